//! The control token as a caller presents it: `Authorization: Bearer <token>` (the HTTP header,
//! or gRPC's `authorization` metadata). The engine compares tokens; reading the header is the
//! front ends' work.

/// The token of an `Authorization` value when its scheme is `Bearer` (any case).
pub(crate) fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bearer_scheme_gives_a_token() {
        assert_eq!(bearer_token(Some("Bearer s3cret")), Some("s3cret"));
        assert_eq!(bearer_token(Some("  bearer   s3cret  ")), Some("s3cret"));
        assert_eq!(bearer_token(Some("Basic dXNlcjpwdw==")), None);
        assert_eq!(bearer_token(Some("s3cret")), None);
        assert_eq!(bearer_token(None), None);
    }
}
