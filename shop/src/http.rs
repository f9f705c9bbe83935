//! Shop routes: products and the tags that place them in videos.

use std::collections::HashMap;

use axum::{
    extract::Path,
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{page_limit, parse_id, request_media_type, ApiJson, ApiQuery, Caller, MaybeCaller},
    state::Urls,
    views::{Position, TagView},
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::{AccountId, ImageId, ProductId, ShopId, TagId, VariantId, VideoId},
    money::Money,
    videos::{self, VideoStatus},
};
use vitrine_identity::principal::Scope;

use crate::{
    affiliates::{self, Blocked},
    attribution::{self, ProductVideoStats},
    images::ImageError,
    products::{
        self, NewProduct, Product, ProductError, ProductPatch, ProductStatus, VariantInput,
    },
    tags::{self, Shown, TagStatus, TimeRange},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product))
        .routes(routes!(add_variant))
        .routes(routes!(update_variant))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(add_image))
                .layer(axum::extract::DefaultBodyLimit::max(MAX_IMAGE_BYTES)),
        )
        .routes(routes!(delete_image))
        .routes(routes!(shop_analytics))
        .routes(routes!(creator_earnings))
        .routes(routes!(create_tag, list_tags))
        .routes(routes!(approve_tag))
        .routes(routes!(reject_tag))
        .routes(routes!(delete_tag))
        .routes(routes!(list_blocked_affiliates))
        .routes(routes!(block_affiliate, unblock_affiliate))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProductBody {
    /// The shop that sells it (shp_…); optional when you belong to exactly one shop (or your
    /// API key acts for one).
    pub shop_id: Option<String>,
    #[schema(example = "Glow serum 30 ml")]
    pub title: String,
    pub description: Option<String>,
    pub price: Money,
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

/// Largest image upload accepted.
const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;

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

fn invalid(e: ProductError) -> ApiError {
    ApiError::invalid("invalid_product", e.to_string())
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
async fn create_product(
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
                .map_err(|_| ApiError::invalid("unknown_shop", "shop_id does not name a shop"))
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
async fn list_products(
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
            m.parse::<ShopId>()
                .map_err(|_| ApiError::bad_request("invalid_shop_id", "shop_id is not a shp_… id"))
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
                .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid"))
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
async fn get_product(
    State(state): State<AppState>,
    caller: MaybeCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<ProductView>> {
    let MaybeCaller(caller) = caller.allow(Scope::ProductsRead)?;
    let id: ProductId = parse_id(&id, "product")?;
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

/// Per product × video: tag impressions, clicks, attributed orders, units, GMV, commission, CTR,
/// CVR and GPM, for the shop's products (its members).
#[utoipa::path(get, path = "/v1/shops/{id}/analytics", tag = "shop",
    params(("id" = String, Path, description = "Shop id (shp_…)")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["analytics:read"])),
    responses((status = 200, body = Vec<ProductVideoStats>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn shop_analytics(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ProductVideoStats>>> {
    let shop = members_shop(&state, &caller, &id, Scope::AnalyticsRead).await?;
    Ok(Json(
        attribution::stats(&state.db, attribution::Scope::Shop(&shop)).await?,
    ))
}

/// The shop named by the path's `id`, for a caller who acts for it with `scope`: 400/404/403
/// as [`member_of`] and `parse_id` say.
pub async fn members_shop(
    state: &AppState,
    caller: &Caller,
    id: &str,
    scope: Scope,
) -> ApiResult<ShopId> {
    caller.allow(scope)?;
    let shop: ShopId = parse_id(id, "shop")?;
    member_of(state, caller, &shop).await?;
    Ok(shop)
}

/// 404 for a shop that does not exist, 403 unless the caller acts for it (`not_a_member`, or
/// why their key does not: `wrong_shop`, `personal_key`).
pub async fn member_of(state: &AppState, caller: &Caller, shop: &ShopId) -> ApiResult<()> {
    if vitrine_identity::shops::get(&state.db, shop)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound("shop"));
    }
    caller.shop(state, Some(shop)).await.map(|_| ())
}

/// Per product × video of your clips: the same figures, with the commission you earned
/// (creators only).
#[utoipa::path(get, path = "/v1/creators/me/earnings", tag = "shop",
    security(("session" = []), ("cookie" = []), ("api_key" = ["analytics:read"])),
    responses((status = 200, body = Vec<ProductVideoStats>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn creator_earnings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ProductVideoStats>>> {
    let creator = caller.allow(Scope::AnalyticsRead)?.creator()?;
    Ok(Json(
        attribution::stats(&state.db, attribution::Scope::Creator(&creator.id)).await?,
    ))
}

/// The product as stored now, after a change.
async fn reread(state: &AppState, id: &ProductId) -> ApiResult<ProductView> {
    let product = products::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    Ok(ProductView::new(product, &state.urls))
}

/// The product, if it exists and the caller may change it (a member of its shop, with the
/// `products:write` scope): 404 or 403 otherwise.
async fn own_product(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Product> {
    caller.allow(Scope::ProductsWrite)?;
    let id: ProductId = parse_id(id, "product")?;
    let product = products::get(&state.db, &id)
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
    pub price: Option<Money>,
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
async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
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
async fn add_variant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
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
    pub price: Option<Money>,
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
async fn update_variant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, variant_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<VariantPatchBody>,
) -> ApiResult<Json<ProductView>> {
    let product = own_product(&state, &caller, &id).await?;
    let variant: VariantId = parse_id(&variant_id, "variant")?;
    if !product.variants.iter().any(|v| v.id == variant) {
        return Err(ApiError::NotFound("variant"));
    }
    if let Some(price) = &body.price {
        if price.currency != product.price.currency {
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTagBody {
    pub product_id: String,
    /// One of the product's variants, to show its price and stock.
    pub variant_id: Option<String>,
    #[schema(example = 1000)]
    pub start_ms: i64,
    #[schema(example = 4000)]
    pub end_ms: i64,
    /// Where to pin the card on the frame (`x`, `y` in 0..1 from the top left).
    pub position: Option<Position>,
    /// A short caption for the card (at most 40 characters).
    pub label: Option<String>,
}

/// Tag a product into a video over a time range. A shop's member tags its products into a
/// creator's video: the tag is `pending` until the creator approves it. A creator tags any
/// active product open to affiliates (commission > 0) into their own video: `live` at once. A
/// creator's own shop's product on their own video is live too. The range must lie inside the video
/// (checked when its duration is known); at most a few tags are live per video.
#[utoipa::path(post, path = "/v1/videos/{id}/tags", tag = "shop",
    params(("id" = String, Path, description = "Video id (vid_…)")),
    request_body = NewTagBody,
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"]), ("api_key" = ["videos:write"])),
    responses(
        (status = 201, body = TagView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn create_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path(video_id): Path<String>,
    ApiJson(body): ApiJson<NewTagBody>,
) -> ApiResult<(StatusCode, Json<TagView>)> {
    let video_id: VideoId = parse_id(&video_id, "video")?;
    let range = TimeRange::new(body.start_ms, body.end_ms)
        .map_err(|e| ApiError::invalid("invalid_range", e.to_string()))?;
    if let Some(p) = body.position {
        if !(0.0..=1.0).contains(&p.x) || !(0.0..=1.0).contains(&p.y) {
            return Err(ApiError::invalid(
                "invalid_position",
                "position.x and position.y must be between 0 and 1",
            ));
        }
    }
    let label = body
        .label
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    if label.as_ref().is_some_and(|l| l.chars().count() > 40) {
        return Err(ApiError::invalid(
            "invalid_label",
            "label must be at most 40 characters",
        ));
    }
    let product_id: ProductId = body
        .product_id
        .parse()
        .map_err(|_| ApiError::invalid("unknown_product", "product_id does not name a product"))?;

    let video = videos::get(&state.db, &video_id)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    let product = products::get(&state.db, &product_id)
        .await?
        .ok_or_else(|| {
            ApiError::invalid("unknown_product", "product_id does not name a product")
        })?;
    let owns_product = caller.acts_for(&state, &product.shop_id).await?;
    if product.status == ProductStatus::Draft && !owns_product {
        return Err(ApiError::invalid(
            "unknown_product",
            "product_id does not name a product",
        ));
    }
    let variant = match &body.variant_id {
        None => None,
        Some(raw) => Some(
            raw.parse::<VariantId>()
                .ok()
                .filter(|v| product.variants.iter().any(|pv| &pv.id == v))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "unknown_variant",
                        "variant_id is not a variant of the product",
                    )
                })?,
        ),
    };
    let owns_video = caller.is_personal() && &video.creator_id == caller.id();
    // The seller's side needs products:write, the creator's videos:write.
    caller.allow(if owns_product {
        Scope::ProductsWrite
    } else {
        Scope::VideosWrite
    })?;
    let status = match (owns_video, owns_product) {
        (true, true) => TagStatus::Live,
        (false, true) => TagStatus::Pending,
        (true, false) if product.commission_bps > 0 => {
            if affiliates::is_blocked(&state.db, &product.shop_id, caller.id()).await? {
                return Err(ApiError::status(
                    StatusCode::FORBIDDEN,
                    "blocked_by_shop",
                    "this product's shop no longer lets you tag its products",
                ));
            }
            TagStatus::Live
        }
        (true, false) => {
            return Err(ApiError::invalid(
                "not_affiliate",
                "this product is not open to affiliates: only its shop can tag it",
            ))
        }
        (false, false) => {
            return Err(ApiError::forbidden(
                "tag your own products, or products open to affiliates into your own videos",
            ))
        }
    };
    if product.status != ProductStatus::Active {
        return Err(ApiError::invalid(
            "product_not_active",
            format!(
                "the product is {}: only active products can be tagged",
                product.status.as_str()
            ),
        ));
    }
    if video.status == VideoStatus::Failed {
        return Err(ApiError::Conflict {
            code: "video_failed",
            message: "the video failed to process and cannot be tagged".into(),
        });
    }
    // A video still uploading has no duration yet: its tags are checked once it has one.
    if let Some(duration_ms) = video.duration_ms {
        range
            .check_within(duration_ms)
            .map_err(|e| ApiError::invalid("invalid_range", e.to_string()))?;
    }
    let tag_id = tags::create(
        &state.db,
        &video.id,
        caller.id(),
        &tags::NewTag {
            product: product.id.clone(),
            variant,
            range,
            position: body.position,
            label,
            status,
        },
        state.limits.max_live_tags,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(tag_view(&state, &video.id, &tag_id).await?),
    ))
}

impl From<tags::LiveError> for ApiError {
    fn from(e: tags::LiveError) -> ApiError {
        match e {
            tags::LiveError::Full(_) => ApiError::Conflict {
                code: "too_many_tags",
                message: e.to_string(),
            },
            tags::LiveError::Changed => ApiError::Conflict {
                code: "tag_not_pending",
                message: e.to_string(),
            },
            tags::LiveError::Db(e) => e.into(),
        }
    }
}

async fn tag_view(state: &AppState, video: &VideoId, tag: &TagId) -> ApiResult<TagView> {
    tags::for_video(&state.db, &state.urls, video, Shown::All)
        .await?
        .into_iter()
        .find(|t| t.id == tag.as_str())
        .ok_or(ApiError::NotFound("tag"))
}

/// A video's tags, in time order, with live product data: its creator sees every tag whatever
/// its state (`pending`, `live`, `rejected`, `invalid`), a shop sees its own products' tags in
/// any state, everyone else the live ones. The video object and the feed show only what
/// viewers see: live tags on active products in stock.
#[utoipa::path(get, path = "/v1/videos/{id}/tags",
    security((), ("session" = []), ("cookie" = []), ("api_key" = ["videos:read"])), tag = "shop",
    params(("id" = String, Path, description = "Video id (vid_…)")),
    responses((status = 200, body = Vec<TagView>), (status = 404, body = ErrorBody)))]
async fn list_tags(
    State(state): State<AppState>,
    caller: MaybeCaller,
    Path(video_id): Path<String>,
) -> ApiResult<Json<Vec<TagView>>> {
    let caller = caller.allow(Scope::VideosRead)?;
    let video_id: VideoId = parse_id(&video_id, "video")?;
    let video = videos::get(&state.db, &video_id)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    let mut all = tags::for_video(&state.db, &state.urls, &video_id, Shown::All).await?;
    let Some(caller) = caller.0 else {
        all.retain(|t| t.status == "live");
        return Ok(Json(all));
    };
    if caller.id() == &video.creator_id || caller.account().is_operator() {
        return Ok(Json(all));
    }
    // Anyone else sees the live tags, and the others only of products their shop sells.
    let mut sells = HashMap::new();
    let mut shown = Vec::with_capacity(all.len());
    for tag in all {
        if tag.status != "live" {
            let seller = match sells.get(&tag.product_id) {
                Some(&seller) => seller,
                None => {
                    let tag_id: TagId = parse_id(&tag.id, "tag")?;
                    let seller = match tags::seller_of(&state.db, &video_id, &tag_id).await? {
                        Some(shop) => caller.acts_for(&state, &shop).await?,
                        None => false,
                    };
                    sells.insert(tag.product_id.clone(), seller);
                    seller
                }
            };
            if !seller {
                continue;
            }
        }
        shown.push(tag);
    }
    Ok(Json(shown))
}

/// Approve a shop's pending tag on your video: it goes live.
#[utoipa::path(post, path = "/v1/videos/{id}/tags/{tag_id}/approve", tag = "shop",
    params(("id" = String, Path), ("tag_id" = String, Path)),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"])),
    responses((status = 200, body = TagView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path((video_id, tag_id)): Path<(String, String)>,
) -> ApiResult<Json<TagView>> {
    decide(&state, &caller, &video_id, &tag_id, TagStatus::Live).await
}

/// Reject a shop's pending tag on your video.
#[utoipa::path(post, path = "/v1/videos/{id}/tags/{tag_id}/reject", tag = "shop",
    params(("id" = String, Path), ("tag_id" = String, Path)),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"])),
    responses((status = 200, body = TagView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reject_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path((video_id, tag_id)): Path<(String, String)>,
) -> ApiResult<Json<TagView>> {
    decide(&state, &caller, &video_id, &tag_id, TagStatus::Rejected).await
}

/// The video's creator moves a pending tag to `to`.
async fn decide(
    state: &AppState,
    caller: &Caller,
    video_id: &str,
    tag_id: &str,
    to: TagStatus,
) -> ApiResult<Json<TagView>> {
    let video_id: VideoId = parse_id(video_id, "video")?;
    let tag_id: TagId = parse_id(tag_id, "tag")?;
    let video = videos::get(&state.db, &video_id)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    let (_, status) = tags::placed(&state.db, &video_id, &tag_id)
        .await?
        .ok_or(ApiError::NotFound("tag"))?;
    caller.allow(Scope::VideosWrite)?.personal()?;
    if &video.creator_id != caller.id() {
        return Err(ApiError::forbidden(
            "only the video's creator approves or rejects its tags",
        ));
    }
    if status != TagStatus::Pending.as_str() {
        return Err(ApiError::Conflict {
            code: "tag_not_pending",
            message: format!("the tag is {status}, not pending"),
        });
    }
    tags::set_status(
        &state.db,
        &video_id,
        &tag_id,
        TagStatus::Pending,
        to,
        state.limits.max_live_tags,
    )
    .await?;
    Ok(Json(tag_view(state, &video_id, &tag_id).await?))
}

/// Add a picture to your product: the body is a JPEG, PNG or WebP (at most 20 MB and 25
/// megapixels by default; larger is 422 `image_too_large`). It is turned upright and stored as
/// JPEG at several widths.
#[utoipa::path(post, path = "/v1/products/{id}/images", tag = "shop",
    params(("id" = String, Path, description = "Product id (prd_…)")),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "the picture (image/jpeg, image/png or image/webp)"),
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses(
        (status = 201, body = ProductView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "overloaded: too many pictures at once (Retry-After)"),
    ))]
async fn add_image(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<ProductView>)> {
    let product = own_product(&state, &caller, &id).await?;
    let content_type = request_media_type(&headers).unwrap_or_default();
    if !["image/jpeg", "image/png", "image/webp"].contains(&content_type.as_str()) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "send the picture as image/jpeg, image/png or image/webp, not {content_type:?}"
        )));
    }
    if product.images.len() >= MAX_IMAGES {
        return Err(ApiError::invalid(
            "too_many_images",
            format!("a product has at most {MAX_IMAGES} images; delete one first"),
        ));
    }
    // Decoding takes memory in proportion to the pixels: a few at a time, the rest wait briefly.
    let work = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        state.limits.image_work.clone().acquire_owned(),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .ok_or_else(|| {
        ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many pictures are being processed; retry in a moment",
        )
    })?;
    let max_pixels = state.limits.max_image_pixels;
    let (width, height, sizes) = tokio::task::spawn_blocking(move || {
        let rendered = crate::images::render(&body, max_pixels);
        drop(work);
        rendered
    })
    .await
    .map_err(|e| anyhow::anyhow!("image task: {e}"))?
    .map_err(|e| match e {
        ImageError::TooLarge { .. } => ApiError::invalid("image_too_large", e.to_string()),
        ImageError::Unreadable(_) => ApiError::invalid("not_an_image", e.to_string()),
    })?;
    let image_id = ImageId::generate();
    let mut stored = Vec::new();
    for size in sizes {
        let key = vitrine_assets::keys::product_image(
            &product.id,
            &format!("{image_id}/{}.jpg", size.width),
        );
        state
            .store
            .put_bytes(&key, size.jpeg.into(), "image/jpeg")
            .await
            .map_err(anyhow::Error::new)?;
        stored.push(products::StoredSize {
            width: size.width,
            height: size.height,
            key,
        });
    }
    let image = products::ProductImage {
        id: image_id,
        width,
        height,
        sizes: stored,
    };
    if let Err(e) = products::add_image(&state.db, &product, &image).await {
        let _ = state
            .store
            .delete_prefix(&vitrine_assets::keys::product_image(
                &product.id,
                &format!("{}/", image.id),
            ))
            .await;
        return Err(e.into());
    }
    Ok((
        StatusCode::CREATED,
        Json(reread(&state, &product.id).await?),
    ))
}

/// Most pictures one product may have.
const MAX_IMAGES: usize = 20;

/// Remove a picture from your product.
#[utoipa::path(delete, path = "/v1/products/{id}/images/{image_id}", tag = "shop",
    params(("id" = String, Path), ("image_id" = String, Path)),
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_image(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, image_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let product = own_product(&state, &caller, &id).await?;
    let image: ImageId = parse_id(&image_id, "image")?;
    if !products::delete_image(&state.db, &product.id, &image).await? {
        return Err(ApiError::NotFound("image"));
    }
    state
        .store
        .delete_prefix(&vitrine_assets::keys::product_image(
            &product.id,
            &format!("{image}/"),
        ))
        .await
        .map_err(anyhow::Error::new)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a tag: the video's creator, or a member of the product's shop (an affiliate's tag
/// too).
#[utoipa::path(delete, path = "/v1/videos/{id}/tags/{tag_id}", tag = "shop",
    params(("id" = String, Path), ("tag_id" = String, Path)),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"]), ("api_key" = ["products:write"])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path((video_id, tag_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let video_id: VideoId = parse_id(&video_id, "video")?;
    let tag_id: TagId = parse_id(&tag_id, "tag")?;
    let video = videos::get(&state.db, &video_id)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    let seller = tags::seller_of(&state.db, &video_id, &tag_id)
        .await?
        .ok_or(ApiError::NotFound("tag"))?;
    if caller.is_personal() && &video.creator_id == caller.id() {
        caller.allow(Scope::VideosWrite)?;
    } else if caller.acts_for(&state, &seller).await? {
        // The shop decides where its products appear, affiliates' tags included.
        caller.allow(Scope::ProductsWrite)?;
    } else {
        return Err(ApiError::forbidden(
            "only the product's shop or the video's creator can remove its tag",
        ));
    }
    tags::delete(&state.db, &tag_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The creators your shop blocked from tagging its products.
#[utoipa::path(get, path = "/v1/shops/{id}/blocked-affiliates", tag = "shop",
    params(("id" = String, Path, description = "Shop id (shp_…)")),
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:read"])),
    responses((status = 200, body = Vec<Blocked>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_blocked_affiliates(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Blocked>>> {
    let shop = members_shop(&state, &caller, &id, Scope::ProductsRead).await?;
    Ok(Json(affiliates::list(&state.db, &shop).await?))
}

/// Block a creator from tagging your shop's products: their tags on them are removed, and new
/// ones are refused (403 `blocked_by_shop`). Blocking twice is the same as once.
#[utoipa::path(put, path = "/v1/shops/{id}/blocked-affiliates/{account_id}", tag = "shop",
    params(
        ("id" = String, Path, description = "Shop id (shp_…)"),
        ("account_id" = String, Path, description = "The creator's account id (acc_…)"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn block_affiliate(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, account)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let shop = members_shop(&state, &caller, &id, Scope::ProductsWrite).await?;
    let creator: AccountId = parse_id(&account, "account")?;
    vitrine_identity::accounts::get(&state.db, &creator)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    if vitrine_identity::shops::role_in(&state.db, &shop, &creator)
        .await?
        .is_some()
    {
        return Err(ApiError::invalid(
            "shop_member",
            "a member of the shop cannot be blocked from it; remove them from the shop",
        ));
    }
    affiliates::block(&state.db, &shop, &creator).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Let a blocked creator tag your shop's products again (their removed tags do not return).
#[utoipa::path(delete, path = "/v1/shops/{id}/blocked-affiliates/{account_id}", tag = "shop",
    params(
        ("id" = String, Path, description = "Shop id (shp_…)"),
        ("account_id" = String, Path, description = "The creator's account id (acc_…)"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn unblock_affiliate(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, account)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let shop = members_shop(&state, &caller, &id, Scope::ProductsWrite).await?;
    let creator: AccountId = parse_id(&account, "account")?;
    if !affiliates::unblock(&state.db, &shop, &creator).await? {
        return Err(ApiError::NotFound("blocked affiliate"));
    }
    Ok(StatusCode::NO_CONTENT)
}
