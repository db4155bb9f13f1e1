//! Markdown to HTML, without raw HTML.
//!
//! Content is data we review but do not trust blindly, and the CSP forbids
//! inline scripts, so raw HTML is never passed through: [`problems`]
//! reports it (the loader fails) and [`render`] escapes it anyway as a
//! second line of defence. Links are limited to web, mail, phone and
//! relative addresses; images are not allowed (a remote image would leak
//! the reader's IP address to a third party).

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

/// Whether a link target is allowed: `https:`, `http:`, `mailto:`, `tel:`,
/// or a relative address (no scheme).
pub fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        // A colon after the first '/', '?' or '#' is not a scheme.
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            matches!(scheme, "https" | "http" | "mailto" | "tel")
        }
        _ => true,
    }
}

/// Everything in `src` the renderer would have to neutralise.
pub fn problems(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    for event in Parser::new_ext(src, options()) {
        match event {
            Event::Html(h) | Event::InlineHtml(h) => {
                out.push(format!(
                    "raw HTML is not allowed: `{}`",
                    h.trim().chars().take(40).collect::<String>()
                ));
            }
            Event::Start(Tag::Link { dest_url, .. }) if !safe_url(&dest_url) => {
                out.push(format!("link target `{dest_url}` is not allowed"));
            }
            Event::Start(Tag::Image { .. }) => out.push("images are not allowed".to_owned()),
            _ => {}
        }
    }
    out
}

/// Renders Markdown to HTML. Raw HTML is escaped into text, unsafe link
/// targets become `#`, and images are reduced to their alt text.
pub fn render(src: &str) -> String {
    let events = Parser::new_ext(src, options()).filter_map(|event| match event {
        Event::Html(h) | Event::InlineHtml(h) => Some(Event::Text(h)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let dest_url = if safe_url(&dest_url) {
                dest_url
            } else {
                CowStr::Borrowed("#")
            };
            Some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        // Dropping the image tags keeps the alt text (the events between
        // them) as plain text.
        Event::Start(Tag::Image { .. }) | Event::End(pulldown_cmark::TagEnd::Image) => None,
        other => Some(other),
    });
    let mut out = String::with_capacity(src.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_escaped_and_reported() {
        let src = "Hei <script>alert(1)</script>\n\n<div onclick=\"x\">a</div>\n";
        let html = render(src);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<div"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert_eq!(problems(src).len(), 3, "{:?}", problems(src));
    }

    #[test]
    fn unsafe_links_are_neutralised() {
        let src = "[a](javascript:alert(1)) [b](https://example.org) [c](tel:113) [d](../x)";
        let html = render(src);
        assert!(!html.contains("javascript"), "{html}");
        assert!(html.contains("href=\"https://example.org\""));
        assert!(html.contains("href=\"tel:113\""));
        assert!(html.contains("href=\"../x\""));
        assert_eq!(problems(src).len(), 1);
        assert!(!safe_url(" JavaScript:x"));
        assert!(!safe_url("data:text/html,x"));
        assert!(safe_url("/a:b"));
    }

    #[test]
    fn images_become_alt_text() {
        let html = render("![a cat](https://tracker.example/cat.png)");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("a cat"));
    }

    #[test]
    fn ordinary_markdown_renders() {
        let html = render("## Tittel\n\n- én\n- *to*\n");
        assert!(html.contains("<h2>Tittel</h2>"));
        assert!(html.contains("<em>to</em>"));
    }
}
