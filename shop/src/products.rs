//! Products: title, price in minor units + ISO 4217 currency, stock.

use sqlx::{any::AnyRow, Row};
use vitrine_core::{
    db::Db,
    ids::{AccountId, ProductId},
    money::Money,
    time::now_ms,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub merchant_id: AccountId,
    pub title: String,
    pub price: Money,
    pub stock: i64,
}

/// A validated new product.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub title: String,
    pub price: Money,
    pub stock: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProductError {
    #[error("title must be 1 to 200 characters")]
    Title,
    #[error("price.amount_minor must be zero or more (an integer in the currency's minor unit)")]
    NegativePrice,
    #[error("price.currency {0:?} is not an ISO 4217 currency code")]
    Currency(String),
    #[error("stock must be between 0 and 1000000000")]
    Stock,
}

impl NewProduct {
    pub fn parse(
        title: &str,
        amount_minor: i64,
        currency: &str,
        stock: i64,
    ) -> Result<NewProduct, ProductError> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(ProductError::Title);
        }
        if amount_minor < 0 {
            return Err(ProductError::NegativePrice);
        }
        let currency = iso_currency::Currency::from_code(currency)
            .ok_or_else(|| ProductError::Currency(currency.to_owned()))?;
        if !(0..=1_000_000_000).contains(&stock) {
            return Err(ProductError::Stock);
        }
        Ok(NewProduct {
            title: title.to_owned(),
            price: Money {
                amount_minor,
                currency: currency.code().to_owned(),
            },
            stock,
        })
    }
}

fn from_row(row: &AnyRow) -> Product {
    Product {
        id: ProductId::from_db(row.get("id")),
        merchant_id: AccountId::from_db(row.get("merchant_id")),
        title: row.get("title"),
        price: Money {
            amount_minor: row.get("price_minor"),
            currency: row.get("currency"),
        },
        stock: row.get("stock"),
    }
}

pub async fn create(db: &Db, merchant: &AccountId, new: NewProduct) -> sqlx::Result<Product> {
    let id = ProductId::generate();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO products (id, merchant_id, title, price_minor, currency, stock, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(id.as_str())
    .bind(merchant.as_str())
    .bind(&new.title)
    .bind(new.price.amount_minor)
    .bind(&new.price.currency)
    .bind(new.stock)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(Product {
        id,
        merchant_id: merchant.clone(),
        title: new.title,
        price: new.price,
        stock: new.stock,
    })
}

pub async fn get(db: &Db, id: &ProductId) -> sqlx::Result<Option<Product>> {
    let row = sqlx::query(
        "SELECT id, merchant_id, title, price_minor, currency, stock FROM products WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(from_row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_validated_at_the_edge() {
        let p = NewProduct::parse(" Lip tint ", 1299, "EUR", 5).unwrap();
        assert_eq!(p.title, "Lip tint");
        assert_eq!(p.price.currency, "EUR");
        assert_eq!(
            NewProduct::parse("x", -1, "EUR", 1).unwrap_err(),
            ProductError::NegativePrice
        );
        assert!(matches!(
            NewProduct::parse("x", 1, "EURO", 1),
            Err(ProductError::Currency(_))
        ));
        assert!(matches!(
            NewProduct::parse("x", 1, "usd", 1),
            Err(ProductError::Currency(_))
        ));
        assert_eq!(
            NewProduct::parse("", 1, "USD", 1).unwrap_err(),
            ProductError::Title
        );
        assert_eq!(
            NewProduct::parse("x", 1, "USD", -3).unwrap_err(),
            ProductError::Stock
        );
    }
}
