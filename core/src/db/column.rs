//! Domain types read straight from a text column: `row.try_get::<VideoStatus, _>("status")`.
//! A value the type does not know is a decoding error (`sqlx::Error::ColumnDecode`), never a
//! silent default: a row written by a newer version, or by hand, fails loudly where it is read.

/// A text value that names none of a type's values.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
}

impl UnknownName {
    pub fn new(what: &'static str, value: &str) -> UnknownName {
        UnknownName {
            what,
            value: value.to_owned(),
        }
    }
}

/// Implements sqlx's `Type` and `Decode` (for the `Any` driver) for `$ty`, stored as text and
/// read with `$from_text: fn(&str) -> Result<$ty, E>` (`E` any error).
#[macro_export]
macro_rules! text_column {
    ($ty:ty, $from_text:expr) => {
        impl $crate::db::__sqlx::Type<$crate::db::__sqlx::Any> for $ty {
            fn type_info() -> $crate::db::__sqlx::any::AnyTypeInfo {
                <str as $crate::db::__sqlx::Type<$crate::db::__sqlx::Any>>::type_info()
            }
        }

        impl<'r> $crate::db::__sqlx::Decode<'r, $crate::db::__sqlx::Any> for $ty {
            fn decode(
                value: $crate::db::__sqlx::any::AnyValueRef<'r>,
            ) -> Result<Self, $crate::db::__sqlx::error::BoxDynError> {
                let text =
                    <&str as $crate::db::__sqlx::Decode<'r, $crate::db::__sqlx::Any>>::decode(
                        value,
                    )?;
                ($from_text)(text).map_err(Into::into)
            }
        }
    };
}

/// A value of `column` that its type could not read, as sqlx reports one.
pub fn decode_error(column: &str, error: impl Into<sqlx::error::BoxDynError>) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: error.into(),
    }
}
