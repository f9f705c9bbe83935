//! Products and their variants: list, read, change (`/v1/products…`).

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vitrine_api::{
    error::ErrorBody,
    extract::{page_limit, ApiJson, ApiQuery, Caller, Id, Ids, MaybeCaller},
    state::Urls,
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::{ProductId, ShopId, VariantId},
    money::{Money, MoneyInput},
};
use vitrine_identity::principal::Scope;

use crate::{
    codes,
    products::{
        self, NewProduct, Product, ProductError, ProductPatch, ProductStatus, VariantInput,
    },
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProductBody {
    /// The shop that sells it (shp_…); optional when you belong to exactly one shop (or your
    /// API key acts for one).
    pub shop_id: Option<String>,
    #[schema(example = "Glow serum 30 ml")]
    pub title: String,
    pub description: Option<String>,
    pub price: MoneyInput,
    /// The product's stock (with variants, each variant has its own).
    #[schema(example = 100)]
    #[serde(default)]
    pub stock: i64,
    /// `draft`, `active` (default) or `archived`.
    pub status: Option<ProductStatus>,
    /// Affiliate commission in basis points of the price, 0..=10000 (default 0: not open to
    /// affiliates).
    pub commission_bps: Option<i64>,
    /// Category slug (lowercase letters, digits, `-`, `_`), e.g. `skincare`: lets the feed
    /// show the clip to viewers who buy in that category.
    #[schema(example = "skincare")]
    pub category: Option<String>,
    #[serde(default)]
    pub variants: Vec<VariantInput>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VariantView {
    pub id: String,
    pub sku: String,
    pub options: std::collections::BTreeMap<String, String>,
    pub price: Money,
    pub stock: i64,
    pub in_stock: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImageSizeView {
    pub width: u32,
    pub height: u32,
    pub url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImageView {
    pub id: String,
    pub width: u32,
    pub height: u32,
    /// JPEG at several widths (for `srcset`), largest first.
    pub sizes: Vec<ImageSizeView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductView {
    pub id: String,
    /// The shop that sells it.
    pub shop_id: String,
    pub title: String,
    pub description: String,
    pub price: Money,
    pub stock: i64,
    /// Whether it can be bought: its stock, or any variant's.
    pub in_stock: bool,
    pub status: ProductStatus,
    /// Affiliate commission in basis points (0: not open to affiliates).
    pub commission_bps: i64,
    pub category: Option<String>,
    pub variants: Vec<VariantView>,
    pub images: Vec<ImageView>,
}

impl ProductView {
    pub fn new(p: Product, urls: &Urls) -> Self {
        ProductView {
            images: p
                .images
                .iter()
                .map(|image| ImageView {
                    id: image.id.to_string(),
                    width: image.width,
                    height: image.height,
                    sizes: image
                        .sizes
                        .iter()
                        .map(|s| ImageSizeView {
                            width: s.width,
                            height: s.height,
                            url: urls.media(&s.key),
                        })
                        .collect(),
                })
                .collect(),
            id: p.id.to_string(),
            shop_id: p.shop_id.to_string(),
            in_stock: p.in_stock(),
            title: p.title,
            description: p.description,
            price: p.price,
            stock: p.stock,
            status: p.status,
            commission_bps: p.commission_bps,
            category: p.category,
            variants: p
                .variants
                .into_iter()
                .map(|v| VariantView {
                    id: v.id.to_string(),
                    sku: v.sku,
                    options: v.options,
                    in_stock: v.stock > 0,
                    price: v.price,
                    stock: v.stock,
                })
                .collect(),
        }
    }
}

pub(crate) fn invalid(e: ProductError) -> ApiError {
    ApiError::invalid(codes::INVALID_PRODUCT, e.to_string())
}

/// List a product in a shop you belong to, optionally with variants.
#[utoipa::path(post, path = "/v1/products", tag = "shop",
    request_body = NewProductBody,
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses(
        (status = 201, body = ProductView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewProductBody>,
) -> ApiResult<(StatusCode, Json<ProductView>)> {
    caller.allow(Scope::ProductsWrite)?;
    let asked = body
        .shop_id
        .as_deref()
        .map(|raw| {
            raw.parse::<ShopId>()
                .map_err(|_| ApiError::invalid(codes::UNKNOWN_SHOP, "shop_id does not name a shop"))
        })
        .transpose()?;
    let (shop, _) = caller.shop(&state, asked.as_ref()).await?;
    let new = NewProduct::parse(
        &body.title,
        body.price.amount_minor,
        &body.price.currency,
        body.stock,
    )
    .and_then(|new| {
        new.with(
            body.description.as_deref(),
            body.status,
            body.commission_bps,
            &body.variants,
        )
    })
    .and_then(|new| new.in_category(body.category.as_deref()))
    .map_err(invalid)?;
    let product = products::create(&state.db, &shop, caller.id(), new).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProductView::new(product, &state.urls)),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this shop's products.
    #[param(pattern = "^shp_[0-9a-fA-F]{32}$")]
    pub shop_id: Option<String>,
    /// `active` (default), or `draft` / `archived` for a shop you belong to (with its
    /// `shop_id`).
    pub status: Option<ProductStatus>,
    /// Only products that can (true) or cannot (false) be bought now.
    pub in_stock: Option<bool>,
    /// Items per page, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<ProductView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// Products, newest first, filtered by shop, status and stock. Drafts and archived products
/// are listed only to the shop's members.
#[utoipa::path(get, path = "/v1/products",
    security((), ("session" = []), ("cookie" = []), ("api_key" = ["products:read"])), tag = "shop",
    params(ListQuery),
    responses((status = 200, body = ProductPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_products(
    State(state): State<AppState>,
    caller: MaybeCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ProductPage>> {
    let MaybeCaller(caller) = caller.allow(Scope::ProductsRead)?;
    let limit = page_limit(q.limit, 20, 100)?;
    let shop = q
        .shop_id
        .as_deref()
        .map(|m| {
            m.parse::<ShopId>().map_err(|_| {
                ApiError::bad_request(codes::INVALID_SHOP_ID, "shop_id is not a shp_… id")
            })
        })
        .transpose()?;
    let status = q.status.unwrap_or(ProductStatus::Active);
    if status != ProductStatus::Active {
        let member = match (&caller, &shop) {
            (Some(caller), Some(shop)) => caller.acts_for(&state, shop).await?,
            _ => false,
        };
        if !member {
            return Err(ApiError::forbidden(
                "draft and archived products are listed only to the shop's members: \
                 sign in and pass your shop_id",
            ));
        }
    }
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<ProductId>()
                .map_err(|_| ApiError::bad_request(codes::INVALID_CURSOR, "cursor is not valid"))
        })
        .transpose()?;
    let mut page = products::list(
        &state.db,
        &products::ListFilter {
            shop,
            status,
            in_stock: q.in_stock,
            after,
            limit: limit + 1,
        },
    )
    .await?;
    let has_more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    let next_cursor = has_more
        .then(|| page.last().map(|p| p.id.to_string()))
        .flatten();
    Ok(Json(ProductPage {
        items: page
            .into_iter()
            .map(|p| ProductView::new(p, &state.urls))
            .collect(),
        next_cursor,
    }))
}

/// A product, with its live stock. Drafts are visible only to its shop's members.
#[utoipa::path(get, path = "/v1/products/{id}",
    security((), ("session" = []), ("cookie" = []), ("api_key" = ["products:read"])), tag = "shop",
    params(("id" = String, Path, description = "Product id (prd_…)")),
    responses((status = 200, body = ProductView), (status = 404, body = ErrorBody)))]
pub async fn get_product(
    State(state): State<AppState>,
    caller: MaybeCaller,
    Id(id): Id<ProductId>,
) -> ApiResult<Json<ProductView>> {
    let MaybeCaller(caller) = caller.allow(Scope::ProductsRead)?;
    let product = products::get(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    if product.status == ProductStatus::Draft {
        let member = match &caller {
            Some(caller) => caller.acts_for(&state, &product.shop_id).await?,
            None => false,
        };
        if !member {
            return Err(ApiError::NotFound("product"));
        }
    }
    Ok(Json(ProductView::new(product, &state.urls)))
}

/// The product as stored now, after a change.
pub async fn reread(state: &AppState, id: &ProductId) -> ApiResult<ProductView> {
    let product = products::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    Ok(ProductView::new(product, &state.urls))
}

/// The product, if it exists and the caller may change it (a member of its shop, with the
/// `products:write` scope): 404 or 403 otherwise.
pub async fn own_product(state: &AppState, caller: &Caller, id: &ProductId) -> ApiResult<Product> {
    caller.allow(Scope::ProductsWrite)?;
    let product = products::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    if !caller.acts_for(state, &product.shop_id).await? {
        return Err(ApiError::forbidden(
            "only the members of the product's shop can change it",
        ));
    }
    Ok(product)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatchBody {
    pub title: Option<String>,
    pub description: Option<String>,
    pub price: Option<MoneyInput>,
    pub stock: Option<i64>,
    pub status: Option<ProductStatus>,
    pub commission_bps: Option<i64>,
    pub category: Option<String>,
}

/// Change your product: any of title, description, price, stock, status, commission, category.
#[utoipa::path(patch, path = "/v1/products/{id}", tag = "shop",
    params(("id" = String, Path, description = "Product id (prd_…)")),
    request_body = ProductPatchBody,
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses(
        (status = 200, body = ProductView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<ProductId>,
    ApiJson(body): ApiJson<ProductPatchBody>,
) -> ApiResult<Json<ProductView>> {
    let product = own_product(&state, &caller, &id).await?;
    let mut patch = ProductPatch::parse(
        body.title.as_deref(),
        body.description.as_deref(),
        body.price.as_ref(),
        body.stock,
        body.status,
        body.commission_bps,
    )
    .map_err(invalid)?;
    patch.category = body
        .category
        .as_deref()
        .map(products::valid_category)
        .transpose()
        .map_err(invalid)?;
    products::update(&state.db, &product, patch)
        .await?
        .map_err(invalid)?;
    Ok(Json(reread(&state, &product.id).await?))
}

/// Add a variant to your product.
#[utoipa::path(post, path = "/v1/products/{id}/variants", tag = "shop",
    params(("id" = String, Path, description = "Product id (prd_…)")),
    request_body = VariantInput,
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses(
        (status = 201, body = ProductView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn add_variant(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<ProductId>,
    ApiJson(body): ApiJson<VariantInput>,
) -> ApiResult<(StatusCode, Json<ProductView>)> {
    let product = own_product(&state, &caller, &id).await?;
    products::add_variant(&state.db, &product, &body)
        .await?
        .map_err(invalid)?;
    Ok((
        StatusCode::CREATED,
        Json(reread(&state, &product.id).await?),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantPatchBody {
    /// In the product's currency.
    pub price: Option<MoneyInput>,
    pub stock: Option<i64>,
}

/// Change a variant's price or stock.
#[utoipa::path(patch, path = "/v1/products/{id}/variants/{variant_id}", tag = "shop",
    params(("id" = String, Path), ("variant_id" = String, Path)),
    request_body = VariantPatchBody,
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses(
        (status = 200, body = ProductView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn update_variant(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id, variant): Ids<ProductId, VariantId>,
    ApiJson(body): ApiJson<VariantPatchBody>,
) -> ApiResult<Json<ProductView>> {
    let product = own_product(&state, &caller, &id).await?;
    if !product.variants.iter().any(|v| v.id == variant) {
        return Err(ApiError::NotFound("variant"));
    }
    if let Some(price) = &body.price {
        if product.price.currency != price.currency.as_str() {
            return Err(invalid(ProductError::VariantCurrency {
                expected: product.price.currency.clone(),
                got: price.currency.clone(),
            }));
        }
    }
    products::update_variant(
        &state.db,
        &product,
        &variant,
        body.price.map(|p| p.amount_minor),
        body.stock,
    )
    .await?
    .map_err(invalid)?;
    Ok(Json(reread(&state, &product.id).await?))
}
