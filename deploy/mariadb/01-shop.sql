-- The sample source database of the docker-compose stack: a small shop
-- (customers, products, orders; 640 rows) with primary keys, a foreign
-- key, secondary indexes and the column types migrations trip over
-- (UUID, ENUM, JSON, DECIMAL, DATETIME(3), TIMESTAMP, VARBINARY, NULLs,
-- non-ASCII text).
--
-- The MariaDB image runs this once, on the first start, inside
-- MARIADB_DATABASE (`shop`). tests/ops loads it the same way
-- (`mariadb --database=<scratch db> < 01-shop.sql`) and migrates it to
-- PostgreSQL, so it stays free of `USE` and `CREATE DATABASE`, and
-- deterministic (no RAND(), UUID() or NOW()): the row counts in the docs
-- hold everywhere.

SET NAMES utf8mb4;
SET time_zone = '+00:00';

CREATE TABLE customers (
  id          INT PRIMARY KEY,
  public_id   UUID NOT NULL,
  email       VARCHAR(200) NOT NULL,
  full_name   VARCHAR(120) NOT NULL,
  country     CHAR(2) NULL,
  tier        ENUM('free', 'pro', 'enterprise') NOT NULL DEFAULT 'free',
  active      TINYINT(1) NOT NULL,
  balance     DECIMAL(12, 2) NULL,
  signed_up   DATE NOT NULL,
  last_login  DATETIME(3) NULL,
  preferences JSON NULL,
  UNIQUE KEY customers_email (email),
  KEY customers_country (country)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE products (
  id          INT PRIMARY KEY,
  sku         VARCHAR(32) NOT NULL,
  name        VARCHAR(200) NOT NULL,
  description TEXT NULL,
  price       DECIMAL(10, 2) NOT NULL,
  weight_kg   DOUBLE NULL,
  in_stock    SMALLINT NOT NULL,
  created_at  TIMESTAMP NOT NULL DEFAULT '2024-01-01 00:00:00',
  checksum    VARBINARY(16) NULL,
  UNIQUE KEY products_sku (sku)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE orders (
  id          BIGINT PRIMARY KEY,
  customer_id INT NOT NULL,
  product_id  INT NOT NULL,
  quantity    INT NOT NULL,
  unit_price  DECIMAL(10, 2) NOT NULL,
  status      ENUM('pending', 'paid', 'shipped', 'cancelled') NOT NULL,
  ordered_at  DATETIME NOT NULL,
  shipped_on  DATE NULL,
  note        VARCHAR(255) NULL,
  KEY orders_ordered_at (ordered_at),
  CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
  CONSTRAINT orders_product FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- 200 customers. `seq_1_to_N` is MariaDB's built-in SEQUENCE engine.
INSERT INTO customers
SELECT seq,
       CONCAT(LPAD(HEX(seq), 8, '0'), '-7a1e-4c0d-9b2e-', LPAD(HEX(seq * 7919), 12, '0')),
       CONCAT('customer', seq, '@example.com'),
       ELT(1 + seq % 6, 'Ada Lovelace', 'José Martínez', 'Zoë Østergaard', '李小龙', 'Grace O''Hara', 'Nnamdi Okafor'),
       IF(seq % 11 = 0, NULL, ELT(1 + seq % 5, 'DE', 'FR', 'US', 'JP', 'NG')),
       ELT(1 + seq % 3, 'free', 'pro', 'enterprise'),
       seq % 4 <> 0,
       IF(seq % 9 = 0, NULL, ROUND(seq * 13.37 % 5000, 2)),
       '2023-01-01' + INTERVAL seq DAY,
       IF(seq % 7 = 0, NULL, '2024-06-01 08:00:00.000' + INTERVAL seq * 3607.125 SECOND),
       IF(seq % 5 = 0, NULL, JSON_OBJECT('newsletter', seq % 2 = 0, 'locale', ELT(1 + seq % 3, 'en', 'de', 'ja'), 'tags', JSON_ARRAY('t', seq % 10)))
FROM seq_1_to_200;

-- 40 products.
INSERT INTO products
SELECT seq,
       CONCAT('SKU-', LPAD(seq, 5, '0')),
       CONCAT(ELT(1 + seq % 4, 'Widget', 'Gadget', 'Gizmo', 'Doohickey'), ' #', seq),
       IF(seq % 3 = 0, NULL, CONCAT('A fine product, “mark ', seq, '”. Handle with care — ∅ returns.')),
       ROUND(1.99 + seq * 2.5, 2),
       IF(seq % 6 = 0, NULL, seq / 7),
       seq * 3 % 50,
       '2024-01-01 00:00:00' + INTERVAL seq HOUR,
       IF(seq % 8 = 0, NULL, UNHEX(MD5(seq)))
FROM seq_1_to_40;

-- 400 orders, each for an existing customer and product.
INSERT INTO orders
SELECT seq,
       1 + seq * 37 % 200,
       1 + seq * 13 % 40,
       1 + seq % 5,
       ROUND(1.99 + (1 + seq * 13 % 40) * 2.5, 2),
       ELT(1 + seq % 4, 'pending', 'paid', 'shipped', 'cancelled'),
       '2024-03-01 09:30:00' + INTERVAL seq * 5 HOUR,
       IF(seq % 4 = 2, '2024-03-03' + INTERVAL seq * 5 HOUR, NULL),
       IF(seq % 10 = 0, CONCAT('gift wrap, order ', seq), NULL)
FROM seq_1_to_400;
