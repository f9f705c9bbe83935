// `sqlx::migrate!` embeds core/migrations at compile time: rebuild when a migration is added or
// changed, not only when Rust code changes (as sqlx's documentation recommends).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
