//! Product tags on videos: place one (the consent rule is `crate::tags::place`), list, approve,
//! reject, remove.

use std::collections::HashMap;

use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use vitrine_api::{
    error::ErrorBody,
    extract::{ApiJson, Caller, Id, Ids, MaybeCaller},
    state::Urls,
    views::{Position, TagView},
    ApiError, ApiResult, AppState,
};
use vitrine_core::{
    ids::{ProductId, TagId, VariantId, VideoId},
    videos,
};
use vitrine_identity::principal::Scope;

use crate::{
    codes,
    products::{self, ProductStatus},
    tags::{self, Shown, Tag, TagStatus, TimeRange},
};

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
pub async fn create_tag(
    State(state): State<AppState>,
    caller: Caller,
    Id(video_id): Id<VideoId>,
    ApiJson(body): ApiJson<NewTagBody>,
) -> ApiResult<(StatusCode, Json<TagView>)> {
    let range = TimeRange::new(body.start_ms, body.end_ms)
        .map_err(|e| ApiError::invalid(codes::INVALID_RANGE, e.to_string()))?;
    if let Some(p) = body.position {
        if !(0.0..=1.0).contains(&p.x) || !(0.0..=1.0).contains(&p.y) {
            return Err(ApiError::invalid(
                codes::INVALID_POSITION,
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
            codes::INVALID_LABEL,
            "label must be at most 40 characters",
        ));
    }
    let product_id: ProductId = body.product_id.parse().map_err(|_| {
        ApiError::invalid(codes::UNKNOWN_PRODUCT, "product_id does not name a product")
    })?;

    let video = videos::get(&state.db, &video_id)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    let product = products::get(&state.db, &product_id)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(codes::UNKNOWN_PRODUCT, "product_id does not name a product")
        })?;
    let owns_product = caller.acts_for(&state, &product.shop_id).await?;
    if product.status == ProductStatus::Draft && !owns_product {
        return Err(ApiError::invalid(
            codes::UNKNOWN_PRODUCT,
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
                        codes::UNKNOWN_VARIANT,
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
    let placement = tags::Placement {
        video: &video,
        product: &product,
        by: caller.id(),
        owns_video,
        owns_product,
    };
    let tag = tags::NewTag {
        product: product.id.clone(),
        variant,
        range,
        position: body.position,
        label,
        // Decided by `place`, from who owns what.
        status: TagStatus::Pending,
    };
    let tag_id = tags::place(&state.db, placement, tag, state.limits.max_live_tags).await?;
    Ok((
        StatusCode::CREATED,
        Json(placed_tag(&state, &video.id, &tag_id).await?),
    ))
}

impl From<tags::PlaceError> for ApiError {
    fn from(e: tags::PlaceError) -> ApiError {
        use tags::PlaceError::*;
        match e {
            NotAffiliate => ApiError::invalid(codes::NOT_AFFILIATE, e.to_string()),
            BlockedByShop => {
                ApiError::status(StatusCode::FORBIDDEN, codes::BLOCKED_BY_SHOP, e.to_string())
            }
            NeitherYours => ApiError::forbidden(e.to_string()),
            ProductNotActive(_) => ApiError::invalid(codes::PRODUCT_NOT_ACTIVE, e.to_string()),
            VideoFailed => ApiError::Conflict {
                code: codes::VIDEO_FAILED,
                message: e.to_string(),
            },
            Range(e) => ApiError::invalid(codes::INVALID_RANGE, e.to_string()),
            Live(e) => e.into(),
            Db(e) => e.into(),
        }
    }
}

impl From<tags::LiveError> for ApiError {
    fn from(e: tags::LiveError) -> ApiError {
        match e {
            tags::LiveError::Full(_) => ApiError::Conflict {
                code: codes::TOO_MANY_TAGS,
                message: e.to_string(),
            },
            tags::LiveError::Changed => ApiError::Conflict {
                code: codes::TAG_NOT_PENDING,
                message: e.to_string(),
            },
            tags::LiveError::Db(e) => e.into(),
        }
    }
}

/// The public view of a tag: its product's picture as a URL.
pub fn view(tag: Tag, urls: &Urls) -> TagView {
    TagView {
        id: tag.id.to_string(),
        video_id: tag.video_id.to_string(),
        product_id: tag.product_id.to_string(),
        variant_id: tag.variant_id.map(|v| v.to_string()),
        start_ms: tag.range.start_ms,
        end_ms: tag.range.end_ms,
        status: tag.status.as_str().to_owned(),
        reason: tag.reason,
        position: tag.position,
        label: tag.label,
        title: tag.title,
        price: tag.price,
        image: tag.image_key.map(|key| urls.media(&key)),
        in_stock: tag.in_stock,
    }
}

/// The views of `tags`.
pub fn views(tags: Vec<Tag>, urls: &Urls) -> Vec<TagView> {
    tags.into_iter().map(|tag| view(tag, urls)).collect()
}

/// A tag of `video` as it is now, in whatever state.
async fn placed_tag(state: &AppState, video: &VideoId, tag: &TagId) -> ApiResult<TagView> {
    tags::for_video(&state.db, video, Shown::All)
        .await?
        .into_iter()
        .find(|t| &t.id == tag)
        .map(|t| view(t, &state.urls))
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
pub async fn list_tags(
    State(state): State<AppState>,
    caller: MaybeCaller,
    Id(video_id): Id<VideoId>,
) -> ApiResult<Json<Vec<TagView>>> {
    let caller = caller.allow(Scope::VideosRead)?;
    let video = videos::get(&state.db, &video_id)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    let mut all = tags::for_video(&state.db, &video_id, Shown::All).await?;
    let Some(caller) = caller.0 else {
        all.retain(|t| t.status == TagStatus::Live);
        return Ok(Json(views(all, &state.urls)));
    };
    if caller.id() == &video.creator_id || caller.account().is_operator() {
        return Ok(Json(views(all, &state.urls)));
    }
    // Anyone else sees the live tags, and the others only of products their shop sells.
    let mut sells = HashMap::new();
    let mut shown = Vec::with_capacity(all.len());
    for tag in all {
        if tag.status != TagStatus::Live {
            let seller = match sells.get(&tag.product_id) {
                Some(&seller) => seller,
                None => {
                    let seller = match tags::seller_of(&state.db, &video_id, &tag.id).await? {
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
        shown.push(view(tag, &state.urls));
    }
    Ok(Json(shown))
}

/// Approve a shop's pending tag on your video: it goes live.
#[utoipa::path(post, path = "/v1/videos/{id}/tags/{tag_id}/approve", tag = "shop",
    params(("id" = String, Path), ("tag_id" = String, Path)),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"])),
    responses((status = 200, body = TagView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve_tag(
    State(state): State<AppState>,
    caller: Caller,
    Ids(video_id, tag_id): Ids<VideoId, TagId>,
) -> ApiResult<Json<TagView>> {
    decide(&state, &caller, &video_id, &tag_id, TagStatus::Live).await
}

/// Reject a shop's pending tag on your video.
#[utoipa::path(post, path = "/v1/videos/{id}/tags/{tag_id}/reject", tag = "shop",
    params(("id" = String, Path), ("tag_id" = String, Path)),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"])),
    responses((status = 200, body = TagView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject_tag(
    State(state): State<AppState>,
    caller: Caller,
    Ids(video_id, tag_id): Ids<VideoId, TagId>,
) -> ApiResult<Json<TagView>> {
    decide(&state, &caller, &video_id, &tag_id, TagStatus::Rejected).await
}

/// The video's creator moves a pending tag to `to`.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    video_id: &VideoId,
    tag_id: &TagId,
    to: TagStatus,
) -> ApiResult<Json<TagView>> {
    let video = videos::get(&state.db, video_id)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    let (_, status) = tags::placed(&state.db, video_id, tag_id)
        .await?
        .ok_or(ApiError::NotFound("tag"))?;
    caller.allow(Scope::VideosWrite)?.personal()?;
    if &video.creator_id != caller.id() {
        return Err(ApiError::forbidden(
            "only the video's creator approves or rejects its tags",
        ));
    }
    if status != TagStatus::Pending {
        return Err(ApiError::Conflict {
            code: codes::TAG_NOT_PENDING,
            message: format!("the tag is {}, not pending", status.as_str()),
        });
    }
    tags::set_status(
        &state.db,
        video_id,
        tag_id,
        TagStatus::Pending,
        to,
        state.limits.max_live_tags,
    )
    .await?;
    Ok(Json(placed_tag(state, video_id, tag_id).await?))
}

/// Remove a tag: the video's creator, or a member of the product's shop (an affiliate's tag
/// too).
#[utoipa::path(delete, path = "/v1/videos/{id}/tags/{tag_id}", tag = "shop",
    params(("id" = String, Path), ("tag_id" = String, Path)),
    security(("session" = []), ("cookie" = []), ("api_key" = ["videos:write"]), ("api_key" = ["products:write"])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_tag(
    State(state): State<AppState>,
    caller: Caller,
    Ids(video_id, tag_id): Ids<VideoId, TagId>,
) -> ApiResult<StatusCode> {
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
