//! Shop routes: products and the tags that place them in videos.

use axum::{extract::Path, extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::{
    error::ErrorBody,
    extract::{parse_id, ApiJson, Auth, Merchant},
    views::TagView,
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::{ProductId, TagId, VideoId},
    money::Money,
    videos::{self, VideoStatus},
};

use crate::{
    products::{self, NewProduct, Product},
    tags::{self, TimeRange},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product))
        .routes(routes!(get_product))
        .routes(routes!(create_tag, list_tags))
        .routes(routes!(delete_tag))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewProductBody {
    #[schema(example = "Glow serum 30 ml")]
    pub title: String,
    pub price: Money,
    #[schema(example = 100)]
    pub stock: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    pub id: String,
    pub merchant_id: String,
    pub title: String,
    pub price: Money,
    pub stock: i64,
    pub in_stock: bool,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        ProductView {
            id: p.id.to_string(),
            merchant_id: p.merchant_id.to_string(),
            title: p.title,
            in_stock: p.stock > 0,
            price: p.price,
            stock: p.stock,
        }
    }
}

/// List a product (merchants only).
#[utoipa::path(post, path = "/v1/products", tag = "shop",
    request_body = NewProductBody,
    security(("bearer" = [])),
    responses(
        (status = 201, body = ProductView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn create_product(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    ApiJson(body): ApiJson<NewProductBody>,
) -> ApiResult<(StatusCode, Json<ProductView>)> {
    let new = NewProduct::parse(
        &body.title,
        body.price.amount_minor,
        &body.price.currency,
        body.stock,
    )
    .map_err(|e| ApiError::invalid("invalid_product", e.to_string()))?;
    let product = products::create(&state.db, &merchant.id, new).await?;
    Ok((StatusCode::CREATED, Json(product.into())))
}

/// A product, with its live stock.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "shop",
    params(("id" = String, Path, description = "Product id (prd_…)")),
    responses((status = 200, body = ProductView), (status = 404, body = ErrorBody)))]
async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProductView>> {
    let id: ProductId = parse_id(&id, "product")?;
    let product = products::get(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    Ok(Json(product.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTagBody {
    pub product_id: String,
    #[schema(example = 1000)]
    pub start_ms: i64,
    #[schema(example = 4000)]
    pub end_ms: i64,
}

/// Tag one of your products into a video over a time range (merchants only). The range must lie
/// inside the video.
#[utoipa::path(post, path = "/v1/videos/{id}/tags", tag = "shop",
    params(("id" = String, Path, description = "Video id (vid_…)")),
    request_body = NewTagBody,
    security(("bearer" = [])),
    responses(
        (status = 201, body = TagView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn create_tag(
    State(state): State<AppState>,
    Merchant(merchant): Merchant,
    Path(video_id): Path<String>,
    ApiJson(body): ApiJson<NewTagBody>,
) -> ApiResult<(StatusCode, Json<TagView>)> {
    let video_id: VideoId = parse_id(&video_id, "video")?;
    let range = TimeRange::new(body.start_ms, body.end_ms)
        .map_err(|e| ApiError::invalid("invalid_range", e.to_string()))?;
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
    if product.merchant_id != merchant.id {
        return Err(ApiError::forbidden("you can only tag your own products"));
    }
    if video.status == VideoStatus::Failed {
        return Err(ApiError::Conflict {
            code: "video_failed",
            message: "the video failed to process and cannot be tagged".into(),
        });
    }
    let duration_ms = video.duration_ms.ok_or_else(|| ApiError::Conflict {
        code: "duration_unknown",
        message: "the video's duration is not known yet; try again once it is processed".into(),
    })?;
    range
        .check_within(duration_ms)
        .map_err(|e| ApiError::invalid("invalid_range", e.to_string()))?;

    let tag_id = tags::create(&state.db, &video.id, &product.id, &merchant.id, range).await?;
    let tag = tags::for_video(&state.db, &video.id)
        .await?
        .into_iter()
        .find(|t| t.id == tag_id.as_str())
        .ok_or_else(|| anyhow::anyhow!("tag {tag_id} vanished after insert"))?;
    Ok((StatusCode::CREATED, Json(tag)))
}

/// The tags of a video, in time order, with live product data.
#[utoipa::path(get, path = "/v1/videos/{id}/tags", tag = "shop",
    params(("id" = String, Path, description = "Video id (vid_…)")),
    responses((status = 200, body = Vec<TagView>), (status = 404, body = ErrorBody)))]
async fn list_tags(
    State(state): State<AppState>,
    Path(video_id): Path<String>,
) -> ApiResult<Json<Vec<TagView>>> {
    let video_id: VideoId = parse_id(&video_id, "video")?;
    videos::get(&state.db, &video_id)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    Ok(Json(tags::for_video(&state.db, &video_id).await?))
}

/// Remove a tag: the merchant who placed it or the video's creator.
#[utoipa::path(delete, path = "/v1/videos/{id}/tags/{tag_id}", tag = "shop",
    params(("id" = String, Path), ("tag_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_tag(
    State(state): State<AppState>,
    auth: Auth,
    Path((video_id, tag_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let video_id: VideoId = parse_id(&video_id, "video")?;
    let tag_id: TagId = parse_id(&tag_id, "tag")?;
    let video = videos::get(&state.db, &video_id)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    let placed_by = tags::creator_of(&state.db, &video_id, &tag_id)
        .await?
        .ok_or(ApiError::NotFound("tag"))?;
    if auth.0.id != placed_by && auth.0.id != video.creator_id {
        return Err(ApiError::forbidden(
            "only the tag's merchant or the video's creator can remove it",
        ));
    }
    tags::delete(&state.db, &tag_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
