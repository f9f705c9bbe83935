//! From what a buyer asks for to an order ready to be placed: every line priced from current
//! prices on the server, in one currency, from one shop, with the clip and tag it started from
//! checked. Nothing is written here; `orders::place` reserves the stock.

use std::time::Duration;

use vitrine_core::{
    db::Db,
    ids::{AccountId, ProductId, TagId, VariantId, VideoId},
    money::Currency,
    time::now_ms,
    videos,
};

use crate::{
    codes,
    orders::{Line, NewOrder, MAX_ITEMS, MAX_QUANTITY},
    products::{self, ProductStatus},
};

/// One line as the buyer sent it.
#[derive(Debug, Clone)]
pub struct ItemRequest<'a> {
    pub product_id: &'a str,
    pub variant_id: Option<&'a str>,
    pub quantity: i64,
}

/// An order as the buyer sent it, with what makes it idempotent.
#[derive(Debug, Clone)]
pub struct OrderRequest<'a> {
    pub buyer: &'a AccountId,
    pub items: Vec<ItemRequest<'a>>,
    /// The clip the purchase started from, and the tag tapped in it (attribution).
    pub video_id: Option<&'a str>,
    pub tag_id: Option<&'a str>,
    pub idempotency_key: String,
    pub request_hash: String,
    /// How long the order waits for payment.
    pub expires_after: Duration,
}

/// Why an order cannot be placed as asked (each a 422 with its own code).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("an order has 1 to {MAX_ITEMS} items")]
    InvalidItems,
    #[error("quantity must be between 1 and {MAX_QUANTITY}")]
    InvalidQuantity,
    #[error("{0:?} does not name a product")]
    UnknownProduct(String),
    #[error("{0:?} is no longer sold")]
    NotSold(String),
    #[error("{0:?} comes in variants: choose one")]
    VariantRequired(String),
    #[error("{variant:?} is not a variant of {product:?}")]
    UnknownVariant { variant: String, product: String },
    #[error("one order is paid in one currency: {0} and {1} cannot be mixed")]
    MixedCurrency(Currency, Currency),
    #[error("an order holds one shop's products: place one order per shop")]
    OneMerchantPerOrder,
    #[error("video_id does not name a video")]
    UnknownVideo,
    #[error("tag_id needs the video_id it belongs to")]
    TagWithoutVideo,
    #[error("tag_id does not name a tag of that video")]
    UnknownTag,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Refusal {
    /// The stable code a client sees.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::InvalidItems => codes::INVALID_ITEMS,
            Refusal::InvalidQuantity => codes::INVALID_QUANTITY,
            Refusal::UnknownProduct(_) => codes::UNKNOWN_PRODUCT,
            Refusal::NotSold(_) => codes::PRODUCT_NOT_ACTIVE,
            Refusal::VariantRequired(_) => codes::VARIANT_REQUIRED,
            Refusal::UnknownVariant { .. } => codes::UNKNOWN_VARIANT,
            Refusal::MixedCurrency(..) => codes::MIXED_CURRENCY,
            Refusal::OneMerchantPerOrder => codes::ONE_MERCHANT_PER_ORDER,
            Refusal::UnknownVideo => codes::UNKNOWN_VIDEO,
            Refusal::TagWithoutVideo | Refusal::UnknownTag => codes::UNKNOWN_TAG,
            Refusal::Db(_) | Refusal::Internal(_) => vitrine_api::codes::INTERNAL,
        }
    }
}

/// Prices every line from current prices and checks what the order refers to.
pub async fn price(db: &Db, request: OrderRequest<'_>) -> Result<NewOrder, Refusal> {
    if request.items.is_empty() || request.items.len() > MAX_ITEMS {
        return Err(Refusal::InvalidItems);
    }
    let mut lines = Vec::new();
    let mut currency: Option<Currency> = None;
    for item in &request.items {
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(Refusal::InvalidQuantity);
        }
        let product = match item.product_id.parse::<ProductId>() {
            Ok(id) => products::get(db, &id).await?,
            Err(_) => None,
        }
        .filter(|p| p.status != ProductStatus::Draft)
        .ok_or_else(|| Refusal::UnknownProduct(item.product_id.to_owned()))?;
        if product.status != ProductStatus::Active
            || !vitrine_identity::shops::selling(db, &product.shop_id).await?
        {
            return Err(Refusal::NotSold(product.title));
        }
        let (variant, unit_price, title) = match (item.variant_id, product.variants.is_empty()) {
            (None, true) => (None, product.price.amount_minor, product.title.clone()),
            (None, false) => return Err(Refusal::VariantRequired(product.title)),
            (Some(raw), _) => {
                let variant = raw
                    .parse::<VariantId>()
                    .ok()
                    .and_then(|id| product.variants.iter().find(|v| v.id == id))
                    .ok_or_else(|| Refusal::UnknownVariant {
                        variant: raw.to_owned(),
                        product: product.title.clone(),
                    })?;
                (
                    Some(variant.id.clone()),
                    variant.price.amount_minor,
                    format!("{} ({})", product.title, variant.sku),
                )
            }
        };
        match &currency {
            None => currency = Some(product.price.currency.clone()),
            Some(c) if *c != product.price.currency => {
                return Err(Refusal::MixedCurrency(
                    c.clone(),
                    product.price.currency.clone(),
                ))
            }
            Some(_) => {}
        }
        if lines
            .first()
            .is_some_and(|first: &Line| first.shop != product.shop_id)
        {
            return Err(Refusal::OneMerchantPerOrder);
        }
        lines.push(Line {
            product: product.id.clone(),
            variant,
            shop: product.shop_id.clone(),
            title,
            unit_price_minor: unit_price,
            quantity: item.quantity,
            commission_bps: product.commission_bps,
        });
    }
    let video = match request.video_id {
        None => None,
        Some(raw) => {
            let id = raw.parse::<VideoId>().ok();
            let exists = match &id {
                Some(id) => videos::get(db, id).await?.is_some(),
                None => false,
            };
            if !exists {
                return Err(Refusal::UnknownVideo);
            }
            id
        }
    };
    let tag = match (request.tag_id, &video) {
        (None, _) => None,
        (Some(_), None) => return Err(Refusal::TagWithoutVideo),
        (Some(raw), Some(video)) => {
            let id = raw.parse::<TagId>().ok();
            let placed = match &id {
                Some(id) => crate::tags::placed(db, video, id).await?,
                None => None,
            };
            if placed.is_none() {
                return Err(Refusal::UnknownTag);
            }
            id
        }
    };
    Ok(NewOrder {
        buyer: request.buyer.clone(),
        idempotency_key: request.idempotency_key,
        request_hash: request.request_hash,
        lines,
        currency: currency.expect("at least one item"),
        video,
        tag,
        expires_at: now_ms()
            + i64::try_from(request.expires_after.as_millis()).unwrap_or(i64::MAX / 2),
    })
}
