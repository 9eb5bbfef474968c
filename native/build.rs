fn main() {
    // napi-build sets the link arguments a Node addon needs; only with the binding.
    if std::env::var_os("CARGO_FEATURE_NAPI").is_some() {
        napi_build::setup();
    }
}
