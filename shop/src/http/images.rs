//! Product pictures: add (decoded, turned upright, stored as JPEG at several widths) and remove.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use vitrine_api::{
    error::ErrorBody,
    extract::{request_media_type, Caller, Id, Ids},
    ApiError, ApiResult, AppState,
};
use vitrine_core::ids::{ImageId, ProductId};

use super::products::{own_product, reread, ProductView};
use crate::{
    codes,
    images::ImageError,
    products::{self},
};

/// Largest image upload accepted.
pub const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;

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
pub async fn add_image(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id<ProductId>,
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
            codes::TOO_MANY_IMAGES,
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
        ImageError::TooLarge { .. } => ApiError::invalid(codes::IMAGE_TOO_LARGE, e.to_string()),
        ImageError::Unreadable(_) => ApiError::invalid(codes::NOT_AN_IMAGE, e.to_string()),
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
pub const MAX_IMAGES: usize = 20;

/// Remove a picture from your product.
#[utoipa::path(delete, path = "/v1/products/{id}/images/{image_id}", tag = "shop",
    params(("id" = String, Path), ("image_id" = String, Path)),
    security(("session" = []), ("cookie" = []), ("api_key" = ["products:write"])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_image(
    State(state): State<AppState>,
    caller: Caller,
    Ids(id, image): Ids<ProductId, ImageId>,
) -> ApiResult<StatusCode> {
    let product = own_product(&state, &caller, &id).await?;
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
