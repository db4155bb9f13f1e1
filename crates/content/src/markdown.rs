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

    /// The elements and attributes the renderer produces from Markdown;
    /// anything else in the output would have come from the input.
    const TAGS: [&str; 22] = [
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "code",
        "ul",
        "ol",
        "li",
        "em",
        "strong",
        "del",
        "a",
        "table",
        "thead",
        "tbody",
        "tr",
        "hr",
    ];
    const MORE_TAGS: [&str; 3] = ["th", "td", "br"];
    const ATTRIBUTES: [&str; 5] = ["href", "title", "start", "style", "class"];

    /// Every tag in `html`: its name and attribute names and values.
    fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut out = Vec::new();
        let mut rest = html;
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            let end = rest.find('>').unwrap_or(rest.len());
            let tag = &rest[..end];
            let tag = tag.trim_start_matches('/').trim_end_matches('/').trim();
            let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
            let mut attrs = Vec::new();
            let mut a = &tag[name_end..];
            while let Some(eq) = a.find("=\"") {
                let name = a[..eq].trim().to_owned();
                let v = &a[eq + 2..];
                let close = v.find('"').unwrap_or(v.len());
                attrs.push((name, v[..close].to_owned()));
                a = v.get(close + 1..).unwrap_or_default();
            }
            out.push((tag[..name_end].to_owned(), attrs));
        }
        out
    }

    /// Markdown-ish input: the pieces raw HTML, links and images are made
    /// of, mixed with anything at all.
    fn markdownish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just("<script>alert(1)</script>".to_owned()),
            Just("<img src=x onerror=alert(1)>".to_owned()),
            Just("<a href='javascript:x'>".to_owned()),
            Just("<!-- c -->".to_owned()),
            Just("[a](".to_owned()),
            Just("](javascript:alert(1))".to_owned()),
            Just("](JaVaScRiPt:x \"t\")".to_owned()),
            Just("](data:text/html,x)".to_owned()),
            Just("](https://example.org)".to_owned()),
            Just("![alt](".to_owned()),
            Just("[r]: javascript:y \"t\"\n".to_owned()),
            Just("[r]".to_owned()),
            Just("<javascript:x>".to_owned()),
            Just("<https://example.org>".to_owned()),
            Just("```js\n".to_owned()),
            Just("`".to_owned()),
            Just("| a | b |\n|:--|--:|\n".to_owned()),
            Just("\n".to_owned()),
            Just("\n\n".to_owned()),
            Just("# ".to_owned()),
            Just("* ".to_owned()),
            Just("3. ".to_owned()),
            Just("> ".to_owned()),
            Just(" onclick=\"x\" ".to_owned()),
            "[<>&\"' =:/\\\t]{1,3}",
            any::<String>(),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        /// Whatever the Markdown, the output holds only the elements and
        /// attributes Markdown makes, and every link target is allowed.
        #[test]
        fn rendered_html_holds_only_markdown_elements_and_safe_links(src in markdownish()) {
            let html = render(&src);
            for (name, attrs) in tags(&html) {
                proptest::prop_assert!(
                    TAGS.contains(&name.as_str()) || MORE_TAGS.contains(&name.as_str()),
                    "element <{}> in {}", name, html
                );
                for (attr, value) in attrs {
                    proptest::prop_assert!(ATTRIBUTES.contains(&attr.as_str()), "attribute {} in {}", attr, html);
                    if attr == "href" {
                        let target = value.replace("&amp;", "&");
                        proptest::prop_assert!(target == "#" || safe_url(&target), "href {} in {}", value, html);
                    }
                    if attr == "style" {
                        proptest::prop_assert!(value.starts_with("text-align"), "style {}", value);
                    }
                }
            }
        }
    }

    #[test]
    fn ordinary_markdown_renders() {
        let html = render("## Tittel\n\n- én\n- *to*\n");
        assert!(html.contains("<h2>Tittel</h2>"));
        assert!(html.contains("<em>to</em>"));
    }
}
