//! Integer fields of request bodies, read as JSON Schema reads them.
//!
//! The spec says `type: integer`, and for JSON Schema `3.0` and `1e3` are
//! integers (a number with a zero fractional part). serde's integer
//! deserializers refuse any JSON number written with a fraction or an
//! exponent. These accept it when it is exactly a whole number in range;
//! `3.5`, `1e30` or `-1.0` for an unsigned field stay errors (a 422), never
//! a rounded or clamped value.
//!
//! Use with `#[serde(deserialize_with = "crate::whole::number")]`, or
//! `"crate::whole::optional"` for an `Option` (with `#[serde(default)]`).

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{self, Unexpected, Visitor};

/// 2^64, the first `f64` past `u64::MAX`.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
/// -2^63 (`i64::MIN`), exactly representable.
const MINUS_TWO_POW_63: f64 = -9_223_372_036_854_775_808.0;

/// An integer, or a JSON number with no fractional part that is one.
pub fn number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    deserializer.deserialize_any(Whole(PhantomData))
}

/// [`number`] for an optional field: `null` is `None`.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    deserializer.deserialize_option(Optional(PhantomData))
}

struct Whole<T>(PhantomData<T>);

impl<'de, T> Visitor<'de> for Whole<T>
where
    T: TryFrom<u64> + TryFrom<i64>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same words as serde's own integer errors (`expected u32`).
        f.write_str(std::any::type_name::<T>())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        let whole = v.is_finite() && v.fract() == 0.0;
        // In these ranges a whole f64 converts exactly: no rounding, no saturation.
        if whole && (0.0..TWO_POW_64).contains(&v) {
            self.visit_u64(v as u64)
        } else if whole && (MINUS_TWO_POW_63..0.0).contains(&v) {
            self.visit_i64(v as i64)
        } else if whole {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        } else {
            Err(E::invalid_type(Unexpected::Float(v), &self))
        }
    }
}

struct Optional<T>(PhantomData<T>);

impl<'de, T> Visitor<'de> for Optional<T>
where
    T: TryFrom<u64> + TryFrom<i64>,
{
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} or null", std::any::type_name::<T>())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        number(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::number")]
        n: u32,
        #[serde(default, deserialize_with = "super::optional")]
        port: Option<u16>,
        #[serde(default, deserialize_with = "super::number")]
        big: u64,
    }

    fn read(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_integers_however_written() {
        for json in [
            r#"{"n": 3}"#,
            r#"{"n": 3.0}"#,
            r#"{"n": 3e0}"#,
            r#"{"n": 0.3e1}"#,
            r#"{"n": 300e-2}"#,
        ] {
            assert_eq!(read(json).map(|b| b.n), Ok(3), "{json}");
        }
        assert_eq!(read(r#"{"n": -0.0}"#).map(|b| b.n), Ok(0));
        assert_eq!(read(r#"{"n": 1e3}"#).map(|b| b.n), Ok(1000));
        assert_eq!(read(r#"{"n": 4294967295.0}"#).map(|b| b.n), Ok(u32::MAX));
        let body = read(r#"{"n": 1, "port": 3306.0, "big": 9007199254740992.0}"#).unwrap();
        assert_eq!(body.port, Some(3306));
        assert_eq!(body.big, 9_007_199_254_740_992);
        assert_eq!(read(r#"{"n": 1, "port": null}"#).unwrap().port, None);
        assert_eq!(read(r#"{"n": 1}"#).unwrap().port, None);
    }

    #[test]
    fn fractions_and_out_of_range_numbers_stay_errors() {
        for json in [
            r#"{"n": 3.5}"#,
            r#"{"n": 1e30}"#,
            r#"{"n": -1}"#,
            r#"{"n": -1.0}"#,
            r#"{"n": 4294967296}"#,
            r#"{"n": 4294967296.0}"#,
            r#"{"n": 1e-7}"#,
            r#"{"n": "3"}"#,
            r#"{"n": true}"#,
            r#"{"n": null}"#,
            r#"{"n": 1, "port": 65536.0}"#,
            r#"{"n": 1, "port": 80.5}"#,
            r#"{"n": 1, "big": 18446744073709551616.0}"#,
        ] {
            assert!(read(json).is_err(), "{json} was accepted");
        }
        let message = read(r#"{"n": 3.5}"#).unwrap_err();
        assert!(
            message.contains("3.5") && message.contains("u32"),
            "{message}"
        );
    }
}
