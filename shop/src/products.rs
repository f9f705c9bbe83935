//! The catalog: products (title, description, price in minor units + ISO 4217 currency, stock,
//! status, affiliate commission) and their variants (SKU, option values, own price and stock).
//!
//! Everything a client sends is validated here, once, into the types below; the database only
//! ever sees valid values. Money is integers: no float touches a price.
//!
//! (About 860 lines, a hundred of them unit tests of the validation.)

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::{any::AnyRow, FromRow, Row};
use utoipa::ToSchema;
use vitrine_core::{
    changes::Topic,
    db::{
        column::{decode_error, UnknownName},
        placeholder_list, Db, Tx,
    },
    ids::{AccountId, ImageId, ProductId, ShopId, VariantId},
    money::{Currency, Money, MoneyInput, UnknownCurrency},
    time::now_ms,
};

/// Most variants one product may have.
pub const MAX_VARIANTS: usize = 100;
/// The most commission a merchant can offer: the whole price.
pub const MAX_COMMISSION_BPS: i64 = 10_000;
const MAX_STOCK: i64 = 1_000_000_000;
/// The highest price, in minor units (10⁹: ten million dollars or euros, a billion yen): a line
/// of 1000 units stays under 10¹², so no sum of lines comes near `i64`'s limit in practice, and
/// the sums that could are taken wide anyway (`money::sum_wide`).
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000;

/// Where a product is in its life: only `active` ones can be bought or shown in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    Draft,
    Active,
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Draft => "draft",
            ProductStatus::Active => "active",
            ProductStatus::Archived => "archived",
        }
    }
}

impl std::str::FromStr for ProductStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<ProductStatus, UnknownName> {
        match s {
            "draft" => Ok(ProductStatus::Draft),
            "active" => Ok(ProductStatus::Active),
            "archived" => Ok(ProductStatus::Archived),
            other => Err(UnknownName::new("product status", other)),
        }
    }
}

vitrine_core::text_column!(ProductStatus, str::parse::<ProductStatus>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub id: VariantId,
    pub sku: String,
    pub options: BTreeMap<String, String>,
    pub price: Money,
    pub stock: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    /// The shop that sells it.
    pub shop_id: ShopId,
    /// The member who listed it.
    pub listed_by: AccountId,
    pub title: String,
    pub description: String,
    pub price: Money,
    /// The product's own stock; with variants, each variant has its own instead.
    pub stock: i64,
    pub status: ProductStatus,
    /// Affiliate commission in basis points of the price (0: not open to affiliates).
    pub commission_bps: i64,
    /// A lowercase category slug (`skincare`, `shoes`…): the feed matches it to viewers.
    pub category: Option<String>,
    pub variants: Vec<Variant>,
    pub images: Vec<ProductImage>,
}

/// A product picture, stored at several widths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductImage {
    pub id: ImageId,
    pub width: u32,
    pub height: u32,
    /// Largest first.
    pub sizes: Vec<StoredSize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSize {
    pub width: u32,
    pub height: u32,
    /// Object key of the JPEG.
    pub key: String,
}

impl Product {
    /// Whether any of it can be bought: its stock, or any variant's.
    pub fn in_stock(&self) -> bool {
        if self.variants.is_empty() {
            self.stock > 0
        } else {
            self.variants.iter().any(|v| v.stock > 0)
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProductError {
    #[error("title must be 1 to 200 characters")]
    Title,
    #[error("description must be at most 5000 characters")]
    Description,
    #[error("price.amount_minor must be zero or more (an integer in the currency's minor unit)")]
    NegativePrice,
    #[error("price.amount_minor must be at most 1000000000 (ten million in a two-digit currency)")]
    PriceTooHigh,
    #[error("price.currency {0}")]
    Currency(#[from] UnknownCurrency),
    #[error("stock must be between 0 and 1000000000")]
    Stock,
    #[error("commission_bps must be between 0 and 10000 (basis points of the price)")]
    Commission,
    #[error("a product has at most 100 variants")]
    TooManyVariants,
    #[error("variant sku must be 1 to 64 characters")]
    Sku,
    #[error("two variants have the sku {0:?}")]
    DuplicateSku(String),
    #[error("variant options are at most 10 pairs of 1 to 50 characters each")]
    Options,
    #[error("a variant's price is in the product's currency {expected}, not {got}")]
    VariantCurrency { expected: Currency, got: String },
    #[error("the currency of a product with variants cannot change")]
    CurrencyChange,
    #[error("category must be 1 to 64 lowercase letters, digits, '-' or '_'")]
    Category,
}

/// A validated new product.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub title: String,
    pub description: String,
    pub price: Money,
    pub stock: i64,
    pub status: ProductStatus,
    pub commission_bps: i64,
    pub category: Option<String>,
    pub variants: Vec<NewVariant>,
}

/// A validated new variant (price in the product's currency).
#[derive(Debug, Clone)]
pub struct NewVariant {
    pub sku: String,
    pub options: BTreeMap<String, String>,
    pub price_minor: i64,
    pub stock: i64,
}

/// A variant as a client describes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    #[schema(example = "SERUM-30")]
    pub sku: String,
    /// Option values, e.g. `{"size": "30 ml"}`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Its own price (default: the product's), in the product's currency.
    pub price: Option<MoneyInput>,
    pub stock: i64,
}

impl NewProduct {
    /// A product with a title, price and stock: active, no description, no commission, no
    /// variants (set the other fields with [`NewProduct::with`]).
    pub fn parse(
        title: &str,
        amount_minor: i64,
        currency: &str,
        stock: i64,
    ) -> Result<NewProduct, ProductError> {
        Ok(NewProduct {
            title: valid_title(title)?,
            description: String::new(),
            price: valid_price(amount_minor, currency)?,
            stock: valid_stock(stock)?,
            status: ProductStatus::Active,
            commission_bps: 0,
            category: None,
            variants: Vec::new(),
        })
    }

    /// Adds what else a client sent: description, status, commission, variants.
    pub fn with(
        mut self,
        description: Option<&str>,
        status: Option<ProductStatus>,
        commission_bps: Option<i64>,
        variants: &[VariantInput],
    ) -> Result<NewProduct, ProductError> {
        if let Some(description) = description {
            self.description = valid_description(description)?;
        }
        if let Some(status) = status {
            self.status = status;
        }
        if let Some(bps) = commission_bps {
            self.commission_bps = valid_commission(bps)?;
        }
        if variants.len() > MAX_VARIANTS {
            return Err(ProductError::TooManyVariants);
        }
        let mut skus = std::collections::BTreeSet::new();
        for input in variants {
            let variant = valid_variant(input, &self.price)?;
            if !skus.insert(variant.sku.clone()) {
                return Err(ProductError::DuplicateSku(variant.sku));
            }
            self.variants.push(variant);
        }
        Ok(self)
    }

    /// Sets the category (validated).
    pub fn in_category(mut self, category: Option<&str>) -> Result<NewProduct, ProductError> {
        self.category = category.map(valid_category).transpose()?;
        Ok(self)
    }
}

/// A category slug: trimmed, lowercased, 1–64 of `a-z 0-9 - _`.
pub fn valid_category(raw: &str) -> Result<String, ProductError> {
    let c = raw.trim().to_lowercase();
    let ok = !c.is_empty()
        && c.len() <= 64
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_');
    if ok {
        Ok(c)
    } else {
        Err(ProductError::Category)
    }
}

fn valid_title(title: &str) -> Result<String, ProductError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ProductError::Title);
    }
    Ok(title.to_owned())
}

fn valid_description(description: &str) -> Result<String, ProductError> {
    if description.chars().count() > 5000 {
        return Err(ProductError::Description);
    }
    Ok(description.trim().to_owned())
}

fn valid_price(amount_minor: i64, currency: &str) -> Result<Money, ProductError> {
    if amount_minor < 0 {
        return Err(ProductError::NegativePrice);
    }
    if amount_minor > MAX_PRICE_MINOR {
        return Err(ProductError::PriceTooHigh);
    }
    Ok(Money {
        amount_minor,
        currency: Currency::parse(currency)?,
    })
}

fn valid_stock(stock: i64) -> Result<i64, ProductError> {
    if !(0..=MAX_STOCK).contains(&stock) {
        return Err(ProductError::Stock);
    }
    Ok(stock)
}

fn valid_commission(bps: i64) -> Result<i64, ProductError> {
    if !(0..=MAX_COMMISSION_BPS).contains(&bps) {
        return Err(ProductError::Commission);
    }
    Ok(bps)
}

fn valid_variant(input: &VariantInput, product_price: &Money) -> Result<NewVariant, ProductError> {
    let sku = input.sku.trim();
    if sku.is_empty() || sku.chars().count() > 64 {
        return Err(ProductError::Sku);
    }
    let fits = |s: &str| !s.trim().is_empty() && s.chars().count() <= 50;
    if input.options.len() > 10 || !input.options.iter().all(|(k, v)| fits(k) && fits(v)) {
        return Err(ProductError::Options);
    }
    let price_minor = match &input.price {
        None => product_price.amount_minor,
        Some(price) => {
            let price = valid_price(price.amount_minor, &price.currency)?;
            if price.currency != product_price.currency {
                return Err(ProductError::VariantCurrency {
                    expected: product_price.currency.clone(),
                    got: price.currency.to_string(),
                });
            }
            price.amount_minor
        }
    };
    Ok(NewVariant {
        sku: sku.to_owned(),
        options: input
            .options
            .iter()
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
        price_minor,
        stock: valid_stock(input.stock)?,
    })
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub price: Option<Money>,
    pub stock: Option<i64>,
    pub status: Option<ProductStatus>,
    pub commission_bps: Option<i64>,
    pub category: Option<String>,
}

impl ProductPatch {
    /// Validates every given field.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        title: Option<&str>,
        description: Option<&str>,
        price: Option<&MoneyInput>,
        stock: Option<i64>,
        status: Option<ProductStatus>,
        commission_bps: Option<i64>,
    ) -> Result<ProductPatch, ProductError> {
        Ok(ProductPatch {
            title: title.map(valid_title).transpose()?,
            description: description.map(valid_description).transpose()?,
            price: price
                .map(|p| valid_price(p.amount_minor, &p.currency))
                .transpose()?,
            stock: stock.map(valid_stock).transpose()?,
            status,
            commission_bps: commission_bps.map(valid_commission).transpose()?,
            category: None,
        })
    }
}

const COLUMNS: &str =
    "id, shop_id, merchant_id, title, description, price_minor, currency, stock, status, commission_bps, \
     category";

impl FromRow<'_, AnyRow> for Product {
    fn from_row(row: &AnyRow) -> sqlx::Result<Product> {
        Ok(Product {
            id: row.try_get("id")?,
            shop_id: row.try_get("shop_id")?,
            listed_by: row.try_get("merchant_id")?,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            price: Money {
                amount_minor: row.try_get("price_minor")?,
                currency: row.try_get("currency")?,
            },
            stock: row.try_get("stock")?,
            status: row.try_get("status")?,
            commission_bps: row.try_get("commission_bps")?,
            category: row.try_get("category")?,
            variants: Vec::new(),
            images: Vec::new(),
        })
    }
}

/// Lists a product in `shop`, by its member `listed_by`.
pub async fn create(
    db: &Db,
    shop: &ShopId,
    listed_by: &AccountId,
    new: NewProduct,
) -> sqlx::Result<Product> {
    let id = ProductId::generate();
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO products (id, merchant_id, title, description, price_minor, currency, stock, \
         status, commission_bps, category, created_at, updated_at, shop_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $10, $10, $12)",
    )
    .bind(id.as_str())
    .bind(listed_by.as_str())
    .bind(&new.title)
    .bind(&new.description)
    .bind(new.price.amount_minor)
    .bind(new.price.currency.as_str())
    .bind(new.stock)
    .bind(new.status.as_str())
    .bind(new.commission_bps)
    .bind(now)
    .bind(new.category.as_deref())
    .bind(shop.as_str())
    .execute(&mut *tx)
    .await?;
    let mut variants = Vec::new();
    for (position, variant) in new.variants.into_iter().enumerate() {
        variants.push(insert_variant(&mut tx, &id, &new.price.currency, variant, position).await?);
    }
    tx.commit().await?;
    Ok(Product {
        id,
        shop_id: shop.clone(),
        listed_by: listed_by.clone(),
        title: new.title,
        description: new.description,
        price: new.price,
        stock: new.stock,
        status: new.status,
        commission_bps: new.commission_bps,
        category: new.category,
        variants,
        images: Vec::new(),
    })
}

async fn insert_variant(
    tx: &mut Tx,
    product: &ProductId,
    currency: &Currency,
    variant: NewVariant,
    position: usize,
) -> sqlx::Result<Variant> {
    let id = VariantId::generate();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO product_variants (id, product_id, sku, options, price_minor, stock, position, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(id.as_str())
    .bind(product.as_str())
    .bind(&variant.sku)
    .bind(serde_json::to_string(&variant.options).unwrap_or_else(|_| "{}".into()))
    .bind(variant.price_minor)
    .bind(variant.stock)
    .bind(position as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(Variant {
        id,
        sku: variant.sku,
        options: variant.options,
        price: Money {
            amount_minor: variant.price_minor,
            currency: currency.clone(),
        },
        stock: variant.stock,
    })
}

/// Adds a variant to an existing product (the caller checked ownership).
pub async fn add_variant(
    db: &Db,
    product: &Product,
    input: &VariantInput,
) -> Result<Result<Variant, ProductError>, sqlx::Error> {
    if product.variants.len() >= MAX_VARIANTS {
        return Ok(Err(ProductError::TooManyVariants));
    }
    let variant = match valid_variant(input, &product.price) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    if product.variants.iter().any(|v| v.sku == variant.sku) {
        return Ok(Err(ProductError::DuplicateSku(variant.sku)));
    }
    let mut tx = db.begin().await?;
    let added = insert_variant(
        &mut tx,
        &product.id,
        &product.price.currency,
        variant,
        product.variants.len(),
    )
    .await?;
    touch(&mut tx, &product.id).await?;
    tx.commit().await?;
    db.changed(Topic::Showcase);
    Ok(Ok(added))
}

/// Sets a variant's price and/or stock.
pub async fn update_variant(
    db: &Db,
    product: &Product,
    variant: &VariantId,
    price_minor: Option<i64>,
    stock: Option<i64>,
) -> Result<Result<(), ProductError>, sqlx::Error> {
    if price_minor.is_some_and(|p| p < 0) {
        return Ok(Err(ProductError::NegativePrice));
    }
    if price_minor.is_some_and(|p| p > MAX_PRICE_MINOR) {
        return Ok(Err(ProductError::PriceTooHigh));
    }
    if let Some(Err(e)) = stock.map(valid_stock) {
        return Ok(Err(e));
    }
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE product_variants SET price_minor = COALESCE($1, price_minor), \
         stock = COALESCE($2, stock), updated_at = $3 WHERE id = $4 AND product_id = $5",
    )
    .bind(price_minor)
    .bind(stock)
    .bind(now_ms())
    .bind(variant.as_str())
    .bind(product.id.as_str())
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, &product.id).await?;
    tx.commit().await?;
    db.changed(Topic::Showcase);
    Ok(Ok(()))
}

async fn touch(tx: &mut Tx, product: &ProductId) -> sqlx::Result<()> {
    sqlx::query("UPDATE products SET updated_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(product.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Applies a validated patch (the caller checked ownership).
pub async fn update(
    db: &Db,
    product: &Product,
    patch: ProductPatch,
) -> Result<Result<(), ProductError>, sqlx::Error> {
    if let Some(price) = &patch.price {
        if price.currency != product.price.currency && !product.variants.is_empty() {
            return Ok(Err(ProductError::CurrencyChange));
        }
    }
    sqlx::query(
        "UPDATE products SET title = COALESCE($1, title), description = COALESCE($2, description), \
         price_minor = COALESCE($3, price_minor), currency = COALESCE($4, currency), \
         stock = COALESCE($5, stock), status = COALESCE($6, status), \
         commission_bps = COALESCE($7, commission_bps), updated_at = $8, \
         category = COALESCE($10, category) WHERE id = $9",
    )
    .bind(patch.title)
    .bind(patch.description)
    .bind(patch.price.as_ref().map(|p| p.amount_minor))
    .bind(patch.price.as_ref().map(|p| p.currency.as_str()))
    .bind(patch.stock)
    .bind(patch.status.map(|s| s.as_str()))
    .bind(patch.commission_bps)
    .bind(now_ms())
    .bind(product.id.as_str())
    .bind(patch.category)
    .execute(db.pool())
    .await?;
    db.changed(Topic::Showcase);
    Ok(Ok(()))
}

pub async fn get(db: &Db, id: &ProductId) -> sqlx::Result<Option<Product>> {
    let product = sqlx::query_as(&format!("SELECT {COLUMNS} FROM products WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(db.pool())
        .await?;
    let Some(mut product) = product else {
        return Ok(None);
    };
    fill_details(db, std::slice::from_mut(&mut product)).await?;
    Ok(Some(product))
}

/// Records an image whose sizes are already stored.
pub async fn add_image(db: &Db, product: &Product, image: &ProductImage) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO product_images (id, product_id, position, width, height, sizes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(image.id.as_str())
    .bind(product.id.as_str())
    .bind(product.images.len() as i64)
    .bind(i64::from(image.width))
    .bind(i64::from(image.height))
    .bind(serde_json::to_string(&image.sizes).unwrap_or_else(|_| "[]".into()))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, &product.id).await?;
    tx.commit().await?;
    db.changed(Topic::Showcase);
    Ok(())
}

pub async fn delete_image(db: &Db, product: &ProductId, image: &ImageId) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM product_images WHERE id = $1 AND product_id = $2")
        .bind(image.as_str())
        .bind(product.as_str())
        .execute(db.pool())
        .await?;
    db.changed(Topic::Showcase);
    Ok(done.rows_affected() > 0)
}

/// Fills each product's variants and images: two queries for the whole page, however many
/// products it holds.
async fn fill_details(db: &Db, products: &mut [Product]) -> sqlx::Result<()> {
    if products.is_empty() {
        return Ok(());
    }
    let ids = placeholder_list(products.len(), 1);
    let variants = rows_of_page(
        db,
        &format!(
            "SELECT product_id, id, sku, options, price_minor, stock FROM product_variants \
             WHERE product_id IN ({ids}) ORDER BY product_id, position"
        ),
        products,
    )
    .await?;
    for (i, row) in variants {
        let currency = products[i].price.currency.clone();
        products[i].variants.push(Variant {
            id: row.try_get("id")?,
            sku: row.try_get("sku")?,
            options: serde_json::from_str(row.try_get("options")?)
                .map_err(|e| decode_error("options", e))?,
            price: Money {
                amount_minor: row.try_get("price_minor")?,
                currency,
            },
            stock: row.try_get("stock")?,
        });
    }
    let images = rows_of_page(
        db,
        &format!(
            "SELECT product_id, id, width, height, sizes FROM product_images \
             WHERE product_id IN ({ids}) ORDER BY product_id, position, id"
        ),
        products,
    )
    .await?;
    for (i, row) in images {
        let size = |column: &str| -> sqlx::Result<u32> {
            u32::try_from(row.try_get::<i64, _>(column)?).map_err(|e| decode_error(column, e))
        };
        products[i].images.push(ProductImage {
            id: row.try_get("id")?,
            width: size("width")?,
            height: size("height")?,
            sizes: serde_json::from_str(row.try_get("sizes")?)
                .map_err(|e| decode_error("sizes", e))?,
        });
    }
    Ok(())
}

/// The rows of `sql` (whose `IN (…)` takes the page's product ids, in order), each with the
/// index of its product (`product_id`) in `products`.
async fn rows_of_page(
    db: &Db,
    sql: &str,
    products: &[Product],
) -> sqlx::Result<Vec<(usize, sqlx::any::AnyRow)>> {
    let index: HashMap<&str, usize> = products
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let mut query = sqlx::query(sql);
    for product in products {
        query = query.bind(product.id.as_str());
    }
    let mut out = Vec::new();
    for row in query.fetch_all(db.pool()).await? {
        if let Some(&i) = index.get(row.try_get::<&str, _>("product_id")?) {
            out.push((i, row));
        }
    }
    Ok(out)
}

/// Which products a listing shows.
#[derive(Debug, Clone)]
pub struct ListFilter {
    pub shop: Option<ShopId>,
    pub status: ProductStatus,
    pub in_stock: Option<bool>,
    /// Products after this one (the previous page's last), newest first.
    pub after: Option<ProductId>,
    pub limit: i64,
}

/// A page of products, newest first.
pub async fn list(db: &Db, filter: &ListFilter) -> sqlx::Result<Vec<Product>> {
    // A product is in stock by its own stock without variants, or by any variant's.
    let in_stock =
        "(CASE WHEN EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id) \
                    THEN EXISTS (SELECT 1 FROM product_variants v \
                                 WHERE v.product_id = p.id AND v.stock > 0) \
                    ELSE p.stock > 0 END)";
    let mut sql = format!(
        "SELECT {} FROM products p WHERE p.status = $1",
        COLUMNS
            .split(", ")
            .map(|c| format!("p.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut n = 1;
    let mut binds: Vec<String> = vec![filter.status.as_str().to_owned()];
    if let Some(shop) = &filter.shop {
        n += 1;
        sql.push_str(&format!(" AND p.shop_id = ${n}"));
        binds.push(shop.to_string());
    }
    if let Some(after) = &filter.after {
        n += 1;
        sql.push_str(&format!(" AND p.id < ${n}"));
        binds.push(after.to_string());
    }
    match filter.in_stock {
        Some(true) => sql.push_str(&format!(" AND {in_stock}")),
        Some(false) => sql.push_str(&format!(" AND NOT {in_stock}")),
        None => {}
    }
    sql.push_str(&format!(
        " ORDER BY p.id DESC LIMIT {}",
        filter.limit.clamp(1, 100)
    ));
    let mut query = sqlx::query_as(&sql);
    for bind in binds {
        query = query.bind(bind);
    }
    let mut products: Vec<Product> = query.fetch_all(db.pool()).await?;
    fill_details(db, &mut products).await?;
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_validated_at_the_edge() {
        let p = NewProduct::parse(" Lip tint ", 1299, "EUR", 5).unwrap();
        assert_eq!(p.title, "Lip tint");
        assert_eq!(p.price.currency, "EUR");
        assert_eq!(p.status, ProductStatus::Active);
        assert_eq!(
            NewProduct::parse("x", -1, "EUR", 1).unwrap_err(),
            ProductError::NegativePrice
        );
        assert_eq!(
            NewProduct::parse("x", 1, "EURO", 1)
                .unwrap_err()
                .to_string(),
            "price.currency \"EURO\" is not an ISO 4217 currency code"
        );
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

    #[test]
    fn variants_commission_and_description_are_validated() {
        let base = || NewProduct::parse("Serum", 2500, "EUR", 0).unwrap();
        let variant = |sku: &str, price: Option<(i64, &str)>, stock: i64| VariantInput {
            sku: sku.into(),
            options: BTreeMap::from([("size".into(), "30 ml".into())]),
            price: price.map(|(amount_minor, currency)| MoneyInput {
                amount_minor,
                currency: currency.into(),
            }),
            stock,
        };
        let p = base()
            .with(
                Some("Daily glow"),
                Some(ProductStatus::Draft),
                Some(1500),
                &[
                    variant("S30", None, 3),
                    variant("S50", Some((3900, "EUR")), 0),
                ],
            )
            .unwrap();
        assert_eq!(
            p.variants[0].price_minor, 2500,
            "inherits the product's price"
        );
        assert_eq!(p.variants[1].price_minor, 3900);
        assert_eq!(
            base().with(None, None, Some(10_001), &[]).unwrap_err(),
            ProductError::Commission
        );
        assert_eq!(
            base().with(None, None, Some(-1), &[]).unwrap_err(),
            ProductError::Commission
        );
        assert_eq!(
            base()
                .with(
                    None,
                    None,
                    None,
                    &[variant("A", None, 1), variant("A", None, 2)]
                )
                .unwrap_err(),
            ProductError::DuplicateSku("A".into())
        );
        assert!(matches!(
            base().with(None, None, None, &[variant("A", Some((10, "USD")), 1)]),
            Err(ProductError::VariantCurrency { .. })
        ));
        assert_eq!(
            base()
                .with(None, None, None, &[variant("A", None, -1)])
                .unwrap_err(),
            ProductError::Stock
        );
        assert_eq!(
            base()
                .with(Some(&"x".repeat(5001)), None, None, &[])
                .unwrap_err(),
            ProductError::Description
        );
    }
}
