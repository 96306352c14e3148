//! The status page's files, embedded in the binary at build time (no build tool, nothing
//! fetched): the HTML, its script, its style sheet and its icon, with the Content-Security-Policy the
//! page is served under (its own script, style and figures only; photos shown from the
//! browser's memory).

/// `GET /`.
pub(crate) const INDEX_HTML: &str = include_str!("page/index.html");
/// `GET /status/app.js`.
pub(crate) const APP_JS: &str = include_str!("page/app.js");
/// `GET /status/style.css`.
pub(crate) const STYLE_CSS: &str = include_str!("page/style.css");
/// `GET /status/icon.svg`: the page's icon (browsers ask for one).
pub(crate) const ICON_SVG: &str = include_str!("page/icon.svg");

/// What the page may load and do: its own files and endpoints, photos from `blob:` URLs the
/// script makes for the photo tried; no inline script or style, no other origin, no frames.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";
