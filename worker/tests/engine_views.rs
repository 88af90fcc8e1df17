//! Views whose definition translates are recreated on the target after the
//! tables; the others are listed in the plan as not recreated, with why.

#[path = "engine_support/mod.rs"]
mod support;

use freight_worker::engine::Engine;
use sqlx::Executor;
use support::{Dbs, job, migrate};

#[tokio::test]
async fn mariadb_views_that_translate_arrive_on_postgres_and_the_rest_are_listed() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE customers (id int PRIMARY KEY, name varchar(20), city varchar(20));
         CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount decimal(10,2), qty int);
         CREATE TABLE other (id int PRIMARY KEY);
         INSERT INTO customers VALUES (1, 'ada', 'London'), (2, 'alan', NULL);
         INSERT INTO orders VALUES (10, 1, 5.00, 1), (11, 1, 20.00, 2), (12, 2, 12.50, 4);
         CREATE VIEW big_orders AS SELECT o.id, c.name, o.amount * o.qty AS total
             FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.amount > 10;
         CREATE VIEW shouting AS SELECT id, upper(name) AS shout FROM customers WHERE city IS NOT NULL;
         CREATE VIEW grouped AS SELECT customer_id, SUM(amount) AS s FROM orders GROUP BY customer_id;
         CREATE VIEW elsewhere AS SELECT id FROM other;",
    )
    .await
    .expect("source");
    my.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["customers", "orders"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.warnings.join("\n");
    for expected in [
        "view big_orders is recreated on the target after the copy",
        "view shouting is recreated on the target after the copy",
        "view grouped is not recreated: its definition uses something Freight does not translate",
        "view elsewhere is not recreated: it reads other, which is not a table the job copies",
    ] {
        assert!(
            warnings.contains(expected),
            "missing {expected:?} in {warnings}"
        );
    }

    let pg = dbs.pg_pool().await;
    let big: Vec<(i32, String, String)> =
        sqlx::query_as("SELECT id, name, total::text FROM big_orders ORDER BY id")
            .fetch_all(&pg)
            .await
            .expect("big_orders on the target");
    assert_eq!(
        big,
        vec![
            (11, "ada".to_owned(), "40.00".to_owned()),
            (12, "alan".to_owned(), "50.00".to_owned())
        ]
    );
    let shouting: Vec<(i32, String)> = sqlx::query_as("SELECT id, shout FROM shouting")
        .fetch_all(&pg)
        .await
        .expect("shouting on the target");
    assert_eq!(shouting, vec![(1, "ADA".to_owned())]);
    let views: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.views WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&pg)
    .await
    .expect("views");
    assert_eq!(views, ["big_orders", "shouting"]);
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_views_with_concatenation_arrive_on_mariadb() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.customers (id int PRIMARY KEY, name text, city text);
         INSERT INTO src.customers VALUES (1, 'ada', 'London'), (2, 'alan', NULL), (3, 'grace', 'NYC');
         CREATE VIEW src.labels AS SELECT id, name || ' (' || city || ')' AS label
             FROM src.customers WHERE city IS NOT NULL AND id <> 3;
         CREATE VIEW src.ranked AS SELECT id, rank() OVER (ORDER BY name) AS r FROM src.customers;",
    )
    .await
    .expect("source");
    pg.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.pg("src"), dbs.mysql(), &[], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.warnings.join("\n");
    assert!(
        warnings.contains("view labels is recreated")
            && warnings.contains("view ranked is not recreated"),
        "{warnings}"
    );
    let my = dbs.my_pool().await;
    let labels: Vec<(i32, String)> = sqlx::query_as("SELECT id, label FROM labels ORDER BY id")
        .fetch_all(&my)
        .await
        .expect("labels on the target");
    assert_eq!(labels, vec![(1, "ada (London)".to_owned())]);
    my.close().await;
    dbs.cleanup().await;
}
