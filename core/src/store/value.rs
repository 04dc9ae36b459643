//! The few value types the store uses, shared by both backends: integers (ids,
//! millisecond timestamps, flags), text and bytes. Keeping to these makes one SQL text
//! work on SQLite and PostgreSQL alike.

use super::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds a parameter list: `params![ticket_id, "open", None::<i64>]`.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::Value::from($value)),*][..]
    };
}
pub(crate) use params;

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(pub(crate) Vec<Value>);

impl Row {
    fn value(&self, index: usize) -> Result<&Value, StoreError> {
        self.0
            .get(index)
            .ok_or_else(|| StoreError::Decode(format!("no column {index}")))
    }

    pub fn i64(&self, index: usize) -> Result<i64, StoreError> {
        match self.value(index)? {
            Value::Int(v) => Ok(*v),
            other => Err(StoreError::Decode(format!(
                "column {index}: expected an integer, got {other:?}"
            ))),
        }
    }

    pub fn opt_i64(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.value(index)? {
            Value::Null => Ok(None),
            _ => self.i64(index).map(Some),
        }
    }

    pub fn bool(&self, index: usize) -> Result<bool, StoreError> {
        Ok(self.i64(index)? != 0)
    }

    pub fn string(&self, index: usize) -> Result<String, StoreError> {
        match self.value(index)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(StoreError::Decode(format!(
                "column {index}: expected text, got {other:?}"
            ))),
        }
    }

    pub fn opt_string(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.value(index)? {
            Value::Null => Ok(None),
            _ => self.string(index).map(Some),
        }
    }

    pub fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        match self.value(index)? {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(StoreError::Decode(format!(
                "column {index}: expected bytes, got {other:?}"
            ))),
        }
    }

    /// Parses a text column into one of the model's string enums.
    pub fn parse<T: std::str::FromStr<Err = String>>(&self, index: usize) -> Result<T, StoreError> {
        self.string(index)?.parse().map_err(StoreError::Decode)
    }

    pub fn opt_parse<T: std::str::FromStr<Err = String>>(
        &self,
        index: usize,
    ) -> Result<Option<T>, StoreError> {
        self.opt_string(index)?
            .map(|s| s.parse().map_err(StoreError::Decode))
            .transpose()
    }
}
