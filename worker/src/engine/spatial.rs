//! MySQL/MariaDB spatial columns on a PostgreSQL target with PostGIS.
//!
//! Without PostGIS (and into MySQL or SQLite) a spatial column travels as
//! its WKB bytes (`ST_AsWKB`, the SRID dropped). When the target database
//! has the `postgis` extension, planning creates the column as
//! `geometry(<Type>)` (plain `geometry` for MySQL `geometry`, whose values
//! mix types; no SRID in the type: MariaDB keeps an SRID per value, and
//! values of different SRIDs may share a column) and the values travel as
//! EWKB: MySQL stores a geometry as its SRID (4 bytes, little endian)
//! followed by little-endian WKB, which the source rearranges into EWKB in
//! SQL (the type's SRID flag `0x20000000` set and the SRID after it; SRID 0
//! stays plain WKB, as PostGIS writes it). Binary COPY hands the bytes to
//! `geometry_recv`, which takes EWKB, and verification compares the
//! source's EWKB with the target's `ST_AsEWKB`.

use super::model::Dialect;
use super::sql::ident;

/// The PostGIS column type for a MySQL spatial column type (`None`: not
/// spatial).
pub fn postgis_type(mysql_type: &str) -> Option<&'static str> {
    Some(match mysql_type.to_ascii_lowercase().as_str() {
        "geometry" => "geometry",
        "point" => "geometry(Point)",
        "linestring" => "geometry(LineString)",
        "polygon" => "geometry(Polygon)",
        "multipoint" => "geometry(MultiPoint)",
        "multilinestring" => "geometry(MultiLineString)",
        "multipolygon" => "geometry(MultiPolygon)",
        "geometrycollection" => "geometry(GeometryCollection)",
        _ => return None,
    })
}

/// Whether a PostgreSQL column type (as introspected) is PostGIS geometry.
pub fn is_geometry(pg_type: &str) -> bool {
    pg_type == "geometry" || pg_type.starts_with("geometry(")
}

/// MySQL/MariaDB: the column's value as EWKB (NULL stays NULL), from its
/// internal form `SRID (4 bytes LE) || WKB (little endian)`.
pub fn mysql_ewkb_sql(column: &str) -> String {
    let g = ident(Dialect::MySql, column);
    format!(
        "IF(ST_SRID({g}) = 0, SUBSTRING({g}, 5), \
         CONCAT(SUBSTRING({g}, 5, 4), CHAR(ASCII(SUBSTRING({g}, 9, 1)) | 32), \
         SUBSTRING({g}, 1, 4), SUBSTRING({g}, 10)))"
    )
}

/// PostgreSQL: a geometry column's value as EWKB (what [`mysql_ewkb_sql`]
/// reads on the source).
pub fn pg_ewkb_sql(column: &str) -> String {
    format!("ST_AsEWKB({})", ident(Dialect::Postgres, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_mysql_spatial_types() {
        assert_eq!(postgis_type("POINT"), Some("geometry(Point)"));
        assert_eq!(postgis_type("geometry"), Some("geometry"));
        assert_eq!(postgis_type("blob"), None);
        assert!(is_geometry("geometry(Point)"));
        assert!(!is_geometry("geometry_dump"));
    }
}
