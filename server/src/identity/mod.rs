//! The identity routes: signing up and in (`auth`), the signed-in account (`me`), shops and
//! their members (`shops`), API keys (`keys`) and operators (`admin`). The rules live in
//! `vitrine_identity`; callers are resolved by `vitrine_api::extract::Caller`, as on every
//! route.

pub mod admin;
pub mod auth;
pub mod keys;
pub mod me;
pub mod shops;

use utoipa_axum::{router::OpenApiRouter, routes};
use vitrine_api::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::anonymous))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::logout_all))
        .routes(routes!(auth::password_reset))
        .routes(routes!(auth::password_reset_confirm))
        .routes(routes!(auth::verify_email))
        .routes(routes!(auth::resend_verification))
        .routes(routes!(me::me))
        .routes(routes!(me::become_creator))
        .routes(routes!(me::sessions))
        .routes(routes!(me::end_session))
        .routes(routes!(shops::create_shop))
        .routes(routes!(shops::get_shop))
        .routes(routes!(shops::add_member, shops::list_members))
        .routes(routes!(shops::remove_member))
        .routes(routes!(shops::join))
        .routes(routes!(shops::my_invitations))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(admin::accounts))
        .routes(routes!(admin::suspend))
        .routes(routes!(admin::restore))
}
