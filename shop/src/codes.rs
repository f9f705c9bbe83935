//! The shop's error codes (`{"error": {"code": …}}`), named once. Clients branch on these
//! strings: they never change. The edge's own codes (`not_found`, `busy`, …) are in
//! `vitrine_api::codes`.

/// 422: a product's fields are not acceptable (the message says which)
pub const INVALID_PRODUCT: &str = "invalid_product";
/// 422: shop_id names no shop
pub const UNKNOWN_SHOP: &str = "unknown_shop";
/// 400: shop_id is not a shp_… id
pub const INVALID_SHOP_ID: &str = "invalid_shop_id";
/// 400: a list cursor we did not issue
pub const INVALID_CURSOR: &str = "invalid_cursor";
/// 409: the product has as many pictures as allowed
pub const TOO_MANY_IMAGES: &str = "too_many_images";
/// 422: the picture has more pixels than allowed
pub const IMAGE_TOO_LARGE: &str = "image_too_large";
/// 422: the body is not a JPEG, PNG or WebP picture
pub const NOT_AN_IMAGE: &str = "not_an_image";
/// 422: a tag's range is malformed or beyond the video
pub const INVALID_RANGE: &str = "invalid_range";
/// 422: a tag's position is outside the frame
pub const INVALID_POSITION: &str = "invalid_position";
/// 422: a tag's label is too long
pub const INVALID_LABEL: &str = "invalid_label";
/// 422: product_id names no product (or a draft of another shop)
pub const UNKNOWN_PRODUCT: &str = "unknown_product";
/// 422: variant_id is not a variant of the product
pub const UNKNOWN_VARIANT: &str = "unknown_variant";
/// 422: a creator's tag of a product not open to affiliates
pub const NOT_AFFILIATE: &str = "not_affiliate";
/// 403: the product's shop blocked this creator
pub const BLOCKED_BY_SHOP: &str = "blocked_by_shop";
/// 422: the product is a draft or archived
pub const PRODUCT_NOT_ACTIVE: &str = "product_not_active";
/// 409: the video failed to process
pub const VIDEO_FAILED: &str = "video_failed";
/// 409: the video shows as many live tags as allowed
pub const TOO_MANY_TAGS: &str = "too_many_tags";
/// 409: the tag was decided meanwhile
pub const TAG_NOT_PENDING: &str = "tag_not_pending";
/// 422: tag_id names no tag of this video
pub const UNKNOWN_TAG: &str = "unknown_tag";
/// 422: the tag is not live (a click needs a live tag)
pub const TAG_NOT_LIVE: &str = "tag_not_live";
/// 422: video_id names no video
pub const UNKNOWN_VIDEO: &str = "unknown_video";
/// 422: a member of the shop cannot be blocked from it
pub const SHOP_MEMBER: &str = "shop_member";
/// 400: an order needs an Idempotency-Key
pub const MISSING_IDEMPOTENCY_KEY: &str = "missing_idempotency_key";
/// 400: the Idempotency-Key is empty or too long
pub const INVALID_IDEMPOTENCY_KEY: &str = "invalid_idempotency_key";
/// 422: the Idempotency-Key was used for a different order
pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
/// 409: not enough units left
pub const OUT_OF_STOCK: &str = "out_of_stock";
/// 422: an order has 1 to N items
pub const INVALID_ITEMS: &str = "invalid_items";
/// 422: a quantity is out of range
pub const INVALID_QUANTITY: &str = "invalid_quantity";
/// 422: the product has variants: choose one
pub const VARIANT_REQUIRED: &str = "variant_required";
/// 422: an order's items are in one currency
pub const MIXED_CURRENCY: &str = "mixed_currency";
/// 422: an order's items come from one shop
pub const ONE_MERCHANT_PER_ORDER: &str = "one_merchant_per_order";
/// 400: not an order status
pub const INVALID_STATUS: &str = "invalid_status";
/// 409: the order is no longer waiting for payment
pub const ORDER_NOT_PENDING: &str = "order_not_pending";
/// 409: the order cannot make this move from its state
pub const INVALID_ORDER_STATE: &str = "invalid_order_state";
/// 422: the payment method is not one the provider takes
pub const INVALID_PAYMENT_METHOD: &str = "invalid_payment_method";
/// 402: the provider declined the payment
pub const PAYMENT_DECLINED: &str = "payment_declined";
/// 402: the provider asks to try again
pub const PAYMENT_RETRY: &str = "payment_retry";
/// 409: the provider has not answered yet
pub const PAYMENT_PENDING: &str = "payment_pending";
/// 409: another payment of this order is being made
pub const PAYMENT_IN_PROGRESS: &str = "payment_in_progress";
/// 503: the payment provider did not answer
pub const PAYMENT_UNAVAILABLE: &str = "payment_unavailable";
