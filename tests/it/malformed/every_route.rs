//! Every route in the app's own table (`mestring_server::app::route_table`,
//! the list the server registers), sent by every role with the categories
//! of the security probe: missing, duplicated and wrongly typed fields,
//! overflowing numbers, invalid UTF-8 (path, query, body), NUL, 1 MB
//! fields, wrong content types, bad CSRF tokens, and path segments of the
//! wrong shape. Every answer must be a 4xx or a normal page (2xx/3xx),
//! none a 5xx and none slower than five seconds; a role the table says may
//! not use a route never gets a 2xx from it.
//!
//! A route added to a table is covered without editing this file: its
//! concrete paths and form fields come from the links and forms the app's
//! own pages show each role; in a route no page links to, each `{param}`
//! gets a value seen under the same name in another route, or a
//! well-shaped made-up id. The summary it prints names those routes.
//!
//! Requests go over raw TCP (one connection each, `Connection: close`) so
//! that bytes no HTTP client library would send (raw non-ASCII in the
//! request line, invalid UTF-8 in a body) reach the server as written.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mestring_domain::channel::ChannelSlug;
use mestring_domain::clock::Clock;
use mestring_domain::id::Id;
use mestring_server::app::route_table;
use mestring_store::channels::ChannelRow;
use mestring_store::organisations::OrganisationRow;
use mestring_store::staff::{StaffHome, StaffRole};
use mestring_web::routes::{Access, RouteDef, Verb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, StaffFixture, TestApp, backends, invite_path, outbox_mails};

/// The CSRF cookie every raw request carries (any well-formed value works:
/// the check is a double submit).
const CSRF: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// A well-formed token that is not the cookie's.
const OTHER_CSRF: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
/// The slowest answer the issue allows.
const SLOW: Duration = Duration::from_secs(5);
/// When to stop waiting and report a hang instead.
const GIVE_UP: Duration = Duration::from_secs(15);
/// Pages fetched per role to find concrete paths and forms.
const CRAWL_LIMIT: usize = 150;
/// Concrete paths per parametrised pattern the crawl follows.
const FOLLOW_PER_PATTERN: usize = 4;
const MB: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Anonymous,
    User,
    Clinician,
    Superuser,
    ToolManager,
    /// A staff member who has passed the password step but not TOTP.
    PendingStaff,
}

const ROLES: [Role; 6] = [
    Role::Anonymous,
    Role::User,
    Role::Clinician,
    Role::Superuser,
    Role::ToolManager,
    Role::PendingStaff,
];

impl Role {
    /// Whether the table's `access` admits this role.
    fn may_use(self, access: Access) -> bool {
        match access {
            Access::Public => true,
            Access::User => self == Role::User,
            Access::Staff => matches!(self, Role::Clinician | Role::Superuser | Role::ToolManager),
        }
    }

    /// Whether this role gets every category on a route with `access`, or
    /// only what the middleware sees before the session check. Public
    /// routes get them from one session of each kind (none, end user,
    /// verified staff, half-logged-in staff): the other staff roles'
    /// sessions look the same to a public page.
    fn full_on(self, access: Access) -> bool {
        match access {
            Access::Public => matches!(
                self,
                Role::Anonymous | Role::User | Role::Superuser | Role::PendingStaff
            ),
            _ => self.may_use(access),
        }
    }

    /// Where this role's raw requests come from (own rate-limit bucket).
    fn address(self) -> IpAddr {
        let n = ROLES.iter().position(|r| *r == self).unwrap_or(0) as u8;
        IpAddr::V4(Ipv4Addr::new(127, 0, 2, n + 1))
    }
}

#[actix_web::test]
async fn every_route_and_role_answers_malformed_input_with_4xx_or_a_page_in_time() {
    for backend in backends() {
        run_suite(backend).await;
    }
}

async fn run_suite(backend: Backend) {
    let started = Instant::now();
    let table = route_table();
    let mut world = World::new(backend).await;
    // The invitation link exists only in an e-mail; it seeds every crawl.
    world.seeds = world.invitation(&table).await;
    let mut sessions = Vec::new();
    for role in ROLES {
        sessions.push(world.session(role, &table).await);
    }
    let union = Harvest::union(sessions.iter().map(|s| &s.harvest));
    let setup = started.elapsed();
    let mut renewing = Duration::ZERO;
    let mut crawled: usize = sessions.iter().map(|s| s.harvest.pages).sum();
    let by_name = union.values_by_param(&table);

    let mut report = Report::default();
    for (index, route) in table.iter().enumerate() {
        for s in sessions.iter_mut() {
            if !world.alive(s).await {
                let t = Instant::now();
                *s = world.session(s.role, &table).await;
                renewing += t.elapsed();
                crawled += s.harvest.pages;
            }
            // One at a time: two valid requests racing on the same rows is
            // another test's subject (`simultaneous_edits_of_one_entry_all_land`
            // found one that way); here an answer depends on its input only.
            for probe in probes(&table, index, s, &union, &by_name) {
                let answer = exchange(world.addr, s.role.address(), probe.bytes()).await;
                report.check(route, s.role, &probe, answer);
            }
        }
    }
    let took = started.elapsed();
    eprintln!(
        "every_route on {backend:?}: {} routes, {} requests, {crawled} pages crawled, \
         {} logins, {took:.1?} (setup {setup:.1?}, renewing sessions {renewing:.1?})",
        table.len(),
        report.sent,
        world.logins,
    );
    let unlinked: Vec<String> = table
        .iter()
        .enumerate()
        .filter(|(i, r)| r.path.contains('{') && !union.paths.contains_key(i))
        .map(|(_, r)| format!("{r:?}"))
        .collect();
    eprintln!("  no page links there (values guessed): {unlinked:?}");
    let formless: Vec<String> = table
        .iter()
        .enumerate()
        .filter(|(i, r)| r.verb == Verb::Post && !union.fields.contains_key(i))
        .map(|(_, r)| format!("{r:?}"))
        .collect();
    eprintln!("  POST routes no page has a form for: {formless:?}");
    for (category, (n, t)) in &report.by_category {
        eprintln!("  {category}: {n} requests, {t:.1?}");
    }
    assert!(
        report.failures.is_empty(),
        "{backend:?}: {} of {} answers broke the rules:\n{}",
        report.failures.len(),
        report.sent,
        report.failures.join("\n")
    );
    assert!(report.sent > 3000, "the suite really ran: {}", report.sent);
}

// ---- The app, its fixtures and the roles' sessions ----

struct World {
    app: TestApp,
    addr: SocketAddr,
    org: Id,
    channel: ChannelSlug,
    /// Logins so far (fresh addresses and e-mail addresses from it).
    logins: u32,
    /// Paths no page links to: the invitation link from the e-mail.
    seeds: Vec<String>,
}

/// A role's cookies and what its pages link to.
struct Session {
    role: Role,
    cookie: String,
    harvest: Harvest,
}

impl World {
    async fn new(backend: Backend) -> Self {
        let app = TestApp::spawn(backend).await;
        let addr = app
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("address");
        let now = app.clock.now();
        let (org, channel) = app
            .state
            .store
            .run(move |conn| {
                let ch = ChannelSlug::parse("kanal").expect("slug");
                ChannelRow::insert(conn, &ch, "Kanal", now)?;
                Ok((
                    OrganisationRow::insert_in(conn, "Klinikk Alle Ruter", &ch, now)?,
                    ch,
                ))
            })
            .await
            .expect("channel and organisation");
        Self {
            app,
            addr,
            org,
            channel,
            logins: 0,
            seeds: Vec::new(),
        }
    }

    /// A browser-like client from an address of its own, so that logins
    /// never share a throttle bucket with the malformed requests.
    fn login_client(&mut self) -> crate::helpers::Client {
        self.logins += 1;
        let n = self.logins;
        self.app
            .client_from(&format!("127.0.{}.{}", 3 + n / 250, 1 + n % 250))
    }

    /// A fresh identity for `role`, logged in, with its pages crawled.
    async fn session(&mut self, role: Role, table: &[RouteDef]) -> Session {
        let base = format!("mestring_csrf={CSRF}");
        let c = self.login_client();
        let n = self.logins;
        let cookie = match role {
            Role::Anonymous => base,
            Role::User => {
                let code = self
                    .app
                    .issue_codes_for(Some(&self.org), Some("nedstemthet"), 1)
                    .await
                    .remove(0)
                    .reveal();
                let r = self
                    .post_past_throttle(&c, "/login", &[("code", &code)])
                    .await;
                assert_eq!(r.status, 303, "user logs in: {}", r.body);
                let r = c.post("/consent", &[("choice", "yes")]).await;
                assert_eq!(r.status, 303, "consent: {}", r.body);
                // Something to link to: a result and a registration entry.
                c.answer_all("phq9", 9, "1").await;
                let r = c.save_checkin("notat").await;
                assert_eq!(r.status, 303, "registration: {}", r.body);
                let token = c.cookie("mestring_session").expect("user session");
                format!("{base}; mestring_session={token}")
            }
            Role::Clinician | Role::Superuser | Role::ToolManager | Role::PendingStaff => {
                let (home, staff_role) = match role {
                    Role::Superuser => (
                        StaffHome::Organisation(self.org.clone()),
                        StaffRole::Superuser,
                    ),
                    Role::ToolManager => (
                        StaffHome::Channel(self.channel.clone()),
                        StaffRole::ToolManager,
                    ),
                    _ => (
                        StaffHome::Organisation(self.org.clone()),
                        StaffRole::Clinician,
                    ),
                };
                let email = format!("rolle{n}@alle-ruter.no");
                let staff = self.app.create_staff_at(home, &email, staff_role).await;
                self.staff_login(&c, &staff, role != Role::PendingStaff)
                    .await;
                let token = c.cookie("mestring_staff").expect("staff session");
                format!("{base}; mestring_staff={token}")
            }
        };
        let mut harvest = crawl(self.addr, table, role, &cookie, &self.seeds).await;
        harvest.add_seed(table, &self.seeds);
        Session {
            role,
            cookie,
            harvest,
        }
    }

    /// POSTs like a browser; a 429 (the suite's own malformed logins trip
    /// the global failed-login ceiling) moves the clock past the wait.
    async fn post_past_throttle(
        &self,
        c: &crate::helpers::Client,
        path: &str,
        fields: &[(&str, &str)],
    ) -> crate::helpers::Resp {
        for _ in 0..20 {
            let r = c.post(path, fields).await;
            if r.status != 429 {
                return r;
            }
            let wait: i64 = r
                .header("retry-after")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            self.app.clock.advance(chrono::Duration::seconds(wait + 1));
        }
        panic!("{path} stayed throttled");
    }

    /// Both steps of a staff login (only the password step if not `verify`).
    async fn staff_login(&self, c: &crate::helpers::Client, staff: &StaffFixture, verify: bool) {
        let r = self
            .post_past_throttle(
                c,
                "/staff/login",
                &[("email", &staff.email), ("password", &staff.password)],
            )
            .await;
        assert_eq!(r.status, 303, "password step: {}", r.body);
        if verify {
            // The code for the clock's now, computed after any wait.
            for _ in 0..20 {
                let code = staff.totp.code_at(self.app.clock.now());
                let r = c.post("/staff/login", &[("totp", &code)]).await;
                if r.status == 303 {
                    return;
                }
                assert_eq!(r.status, 429, "TOTP step: {}", r.body);
                self.app.clock.advance(chrono::Duration::seconds(31));
            }
            panic!("the TOTP step stayed throttled");
        }
    }

    /// Whether the session still works (a malformed request may have been
    /// a well-formed logout, deletion or deactivation after all).
    async fn alive(&self, s: &Session) -> bool {
        let (path, marker) = match s.role {
            Role::Anonymous => return true,
            Role::User => ("/settings", None),
            Role::Clinician | Role::Superuser | Role::ToolManager => ("/dashboard/profile", None),
            Role::PendingStaff => ("/staff/login", Some("name=\"totp\"")),
        };
        let req = Probe::get("alive", path.as_bytes().to_vec(), &s.cookie);
        match exchange(self.addr, s.role.address(), req.bytes()).await {
            Ok(a) => {
                a.status == 200
                    && marker.is_none_or(|m| String::from_utf8_lossy(&a.body).contains(m))
            }
            Err(_) => false,
        }
    }

    /// A superuser invites someone; the link from the e-mail.
    async fn invitation(&mut self, table: &[RouteDef]) -> Vec<String> {
        let c = self.login_client();
        let n = self.logins;
        let boss = self
            .app
            .create_staff(
                &self.org,
                &format!("sjef{n}@alle-ruter.no"),
                StaffRole::Superuser,
            )
            .await;
        self.staff_login(&c, &boss, true).await;
        let r = c
            .post(
                "/dashboard/staff",
                &[("name", "Invitert"), ("email", "invitert@alle-ruter.no")],
            )
            .await;
        assert_eq!(r.status, 303, "invitation: {}", r.body);
        let mails = outbox_mails(&self.app.db.dir.path().join("data"));
        let link = mails
            .iter()
            .find_map(|m| invite_path(m))
            .expect("invitation link");
        let links = vec![link.clone(), format!("{link}/totp")];
        assert!(
            links
                .iter()
                .all(|l| route_of(table, Verb::Get, l).is_some()),
            "the invitation link is a route"
        );
        links
    }
}

// ---- What the pages link to ----

/// Concrete paths, query keys and form fields per route index, as the
/// app's pages show them.
#[derive(Default, Clone)]
struct Harvest {
    /// Pages fetched to find the rest.
    pages: usize,
    paths: BTreeMap<usize, BTreeSet<String>>,
    query_keys: BTreeMap<usize, BTreeSet<String>>,
    fields: BTreeMap<usize, Vec<(String, String)>>,
}

impl Harvest {
    fn union<'a>(all: impl Iterator<Item = &'a Harvest>) -> Harvest {
        let mut u = Harvest::default();
        for h in all {
            for (i, p) in &h.paths {
                u.paths.entry(*i).or_default().extend(p.iter().cloned());
            }
            for (i, k) in &h.query_keys {
                u.query_keys
                    .entry(*i)
                    .or_default()
                    .extend(k.iter().cloned());
            }
            for (i, f) in &h.fields {
                u.fields.entry(*i).or_insert_with(|| f.clone());
            }
        }
        u
    }

    /// For each parameter name (`step_id`), the values seen in its place
    /// in any route's concrete paths: a guess for a route no page links to.
    fn values_by_param(&self, table: &[RouteDef]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (i, paths) in &self.paths {
            let Some(concrete) = paths.iter().next() else {
                continue;
            };
            for (pat, seg) in table[*i].path.split('/').zip(concrete.split('/')) {
                if let Some(name) = pat.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    out.entry(name.to_owned()).or_insert_with(|| seg.to_owned());
                }
            }
        }
        out
    }

    /// Paths no page links to (the invitation link) for GET and POST.
    fn add_seed(&mut self, table: &[RouteDef], paths: &[String]) {
        for p in paths {
            for verb in [Verb::Get, Verb::Post] {
                if let Some(i) = route_of(table, verb, p) {
                    self.paths.entry(i).or_default().insert(p.clone());
                }
            }
        }
    }

    fn record(&mut self, table: &[RouteDef], link: &Link) -> Option<usize> {
        let i = route_of(table, link.verb, &link.path)?;
        self.paths.entry(i).or_default().insert(link.path.clone());
        self.query_keys
            .entry(i)
            .or_default()
            .extend(link.query_keys.iter().cloned());
        if link.verb == Verb::Post {
            self.fields.entry(i).or_insert_with(|| link.fields.clone());
        }
        Some(i)
    }
}

/// The first route (in registration order, as actix matches) that `path`
/// would reach with `verb`.
fn route_of(table: &[RouteDef], verb: Verb, path: &str) -> Option<usize> {
    let segs: Vec<&str> = path.split('/').collect();
    table.iter().position(|r| {
        let pat: Vec<&str> = r.path.split('/').collect();
        r.verb == verb
            && pat.len() == segs.len()
            && pat.iter().zip(&segs).all(|(p, s)| {
                if p.starts_with('{') {
                    !s.is_empty()
                } else {
                    p == s
                }
            })
    })
}

/// Fetches the role's pages breadth-first from every parameterless GET
/// route and `seeds`, following links into parametrised routes a few
/// times each.
async fn crawl(
    addr: SocketAddr,
    table: &[RouteDef],
    role: Role,
    cookie: &str,
    seeds: &[String],
) -> Harvest {
    let mut queue: VecDeque<String> = table
        .iter()
        .filter(|r| r.verb == Verb::Get && !r.path.contains('{'))
        .map(|r| r.path.to_owned())
        .chain(seeds.iter().cloned())
        .collect();
    let mut seen = BTreeSet::new();
    let mut followed: BTreeMap<usize, usize> = BTreeMap::new();
    let mut harvest = Harvest::default();
    while let Some(path) = queue.pop_front() {
        if seen.len() >= CRAWL_LIMIT || !seen.insert(path.clone()) {
            continue;
        }
        harvest.pages += 1;
        let req = Probe::get("crawl", path.clone().into_bytes(), cookie);
        let Ok(a) = exchange(addr, role.address(), req.bytes()).await else {
            continue;
        };
        // Follow redirects within the site (a step that is a form).
        if let Some(to) = a.header("location").and_then(|l| split_url(l, Verb::Get))
            && !seen.contains(&to.path)
        {
            queue.push_back(to.path);
        }
        if a.status != 200 || !a.is_html() {
            continue;
        }
        for link in links(&path, &String::from_utf8_lossy(&a.body)) {
            let Some(i) = harvest.record(table, &link) else {
                continue;
            };
            let n = followed.entry(i).or_default();
            if link.verb == Verb::Get
                && table[i].path.contains('{')
                && *n < FOLLOW_PER_PATTERN
                && !seen.contains(&link.path)
            {
                *n += 1;
                queue.push_back(link.path);
            }
        }
    }
    harvest
}

/// A link or form found on a page.
struct Link {
    verb: Verb,
    path: String,
    query_keys: Vec<String>,
    fields: Vec<(String, String)>,
}

/// Every same-site `href` and form on the page at `page`. Askama's escaping is undone
/// for attribute values; forms give their fields' names and first values.
fn links(page: &str, html: &str) -> Vec<Link> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("href=\"") {
        rest = &rest[at + 6..];
        let end = rest.find('"').unwrap_or(rest.len());
        if let Some(l) = split_url(&unescape(&rest[..end]), Verb::Get) {
            out.push(l);
        }
    }
    let mut rest = html;
    while let Some(at) = rest.find("<form") {
        rest = &rest[at..];
        let end = rest.find("</form>").unwrap_or(rest.len());
        let form = &rest[..end];
        rest = &rest[end.min(rest.len())..];
        rest = rest.get(1..).unwrap_or_default();
        let open = &form[..form.find('>').unwrap_or(form.len())];
        let verb = match attr(open, "method").map(|m| m.to_ascii_lowercase()) {
            Some(m) if m == "post" => Verb::Post,
            _ => Verb::Get,
        };
        // A form without an action posts to the page it is on.
        let action = attr(open, "action")
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| page.to_owned());
        let Some(mut link) = split_url(&action, verb) else {
            continue;
        };
        let fields = form_fields(form);
        if verb == Verb::Get {
            link.query_keys
                .extend(fields.iter().map(|(k, _)| k.clone()));
        } else {
            link.fields = fields
                .into_iter()
                .filter(|(k, _)| k != "csrf_token")
                .collect();
        }
        out.push(link);
    }
    out
}

fn split_url(url: &str, verb: Verb) -> Option<Link> {
    let url = url.split('#').next().unwrap_or_default();
    if !url.starts_with('/') || url.starts_with("//") {
        return None;
    }
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    Some(Link {
        verb,
        path: path.to_owned(),
        query_keys: query
            .split('&')
            .filter_map(|kv| kv.split('=').next())
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
        fields: Vec::new(),
    })
}

/// `name="value"` pairs of a form's inputs, selects, textareas and
/// buttons; the first value of each name (radio groups, checkboxes).
fn form_fields(form: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut rest = form;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        let kind = tag.split_whitespace().next().unwrap_or_default();
        if !matches!(kind, "input" | "select" | "textarea" | "button") {
            continue;
        }
        let Some(name) = attr(tag, "name") else {
            continue;
        };
        let value = match kind {
            "select" => rest
                .find("<option")
                .and_then(|o| attr(&rest[o..o + rest[o..].find('>').unwrap_or(0)], "value"))
                .unwrap_or_default(),
            "textarea" => "text".to_owned(),
            _ => attr(tag, "value").unwrap_or_else(|| "1".to_owned()),
        };
        if !fields.iter().any(|(k, _)| *k == name) {
            fields.push((name, value));
        }
    }
    fields
}

/// The value of attribute `name` in a tag's text.
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let mut from = 0;
    while let Some(at) = tag[from..].find(&needle) {
        let start = from + at;
        let before = tag[..start].chars().last();
        if before.is_some_and(char::is_whitespace) {
            let v = &tag[start + needle.len()..];
            return Some(unescape(&v[..v.find('"').unwrap_or(v.len())]));
        }
        from = start + needle.len();
    }
    None
}

/// Undoes HTML escaping (named and numeric character references).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

// ---- The requests ----

/// One raw HTTP/1.1 request.
struct Probe {
    label: String,
    method: &'static str,
    target: Vec<u8>,
    cookie: String,
    headers: Vec<(&'static str, String)>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Probe {
    fn get(label: &str, target: Vec<u8>, cookie: &str) -> Self {
        Self {
            label: label.to_owned(),
            method: "GET",
            target,
            cookie: cookie.to_owned(),
            headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    fn post(label: &str, target: Vec<u8>, cookie: &str, body: Vec<u8>) -> Self {
        Self {
            label: label.to_owned(),
            method: "POST",
            target,
            cookie: cookie.to_owned(),
            headers: Vec::new(),
            content_type: Some("application/x-www-form-urlencoded".to_owned()),
            body,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 512);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(b" HTTP/1.1\r\nHost: mestring.test\r\nConnection: close\r\n");
        if !self.cookie.is_empty() {
            out.extend_from_slice(format!("Cookie: {}\r\n", self.cookie).as_bytes());
        }
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if let Some(ct) = &self.content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        if self.method == "POST" {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Percent-encodes everything but unreserved characters.
fn enc(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// A form body from pairs that are already encoded.
fn body(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
    }
    out
}

fn csrf_pair(token: &str) -> (Vec<u8>, Vec<u8>) {
    (b"csrf_token".to_vec(), token.as_bytes().to_vec())
}

/// `pattern`'s route with `concrete` (a path that matches it) as the base:
/// the same path with segment `i` replaced by `replacement` (raw bytes).
fn with_segment(concrete: &str, i: usize, replacement: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, seg) in concrete.split('/').enumerate() {
        if n > 0 {
            out.push(b'/');
        }
        if n == i {
            out.extend_from_slice(replacement);
        } else {
            out.extend_from_slice(seg.as_bytes());
        }
    }
    out
}

/// Path segments of the wrong shape, as raw request-line bytes.
fn bad_segments() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("dot-dot", b"..".to_vec()),
        ("encoded-dot-dot", b"%2e%2e".to_vec()),
        ("traversal", b"..%2f..%2f..%2fetc%2fpasswd".to_vec()),
        ("encoded-slash", b"a%2fb".to_vec()),
        ("300-chars", vec![b'a'; 300]),
        ("5-kB", vec![b'7'; 5000]),
        ("non-ascii", b"%C3%A6%C3%B8%C3%A5".to_vec()),
        ("emoji", b"%F0%9F%92%A9".to_vec()),
        ("raw-non-ascii", b"\xc3\xa6\xc3\xb8".to_vec()),
        ("invalid-utf8", b"%ff%fe".to_vec()),
        ("invalid-utf8-2", b"%c3%28".to_vec()),
        ("raw-invalid-utf8", b"\xff\xfe".to_vec()),
        ("bad-escape", b"%zz%".to_vec()),
        ("nul", b"a%00b".to_vec()),
        ("sql", b"'%20OR%201=1--".to_vec()),
        ("html", b"%3Cscript%3E".to_vec()),
        ("overflow", b"99999999999999999999999".to_vec()),
        ("negative", b"-1".to_vec()),
        ("unknown-id", Id::generate().as_str().as_bytes().to_vec()),
    ]
}

/// Values that are numbers of the wrong size or form.
const NUMBERS: [&str; 8] = [
    "99999999999999999999999",
    "-9223372036854775809",
    "18446744073709551616",
    "-1",
    "1e308",
    "NaN",
    "5.5",
    "\u{ff11}",
];

/// Every request for one route and one role.
fn probes(
    table: &[RouteDef],
    index: usize,
    s: &Session,
    union: &Harvest,
    by_name: &BTreeMap<String, String>,
) -> Vec<Probe> {
    let route = &table[index];
    let concrete = s
        .harvest
        .paths
        .get(&index)
        .and_then(|p| p.iter().next())
        .or_else(|| union.paths.get(&index).and_then(|p| p.iter().next()))
        .cloned()
        .unwrap_or_else(|| {
            // Nothing links here: per parameter, a value seen under the
            // same name elsewhere, or a well-shaped made-up id.
            route
                .path
                .split('/')
                .map(
                    |seg| match seg.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                        Some(name) => by_name
                            .get(name)
                            .cloned()
                            .unwrap_or_else(|| Id::generate().as_str().to_owned()),
                        None => seg.to_owned(),
                    },
                )
                .collect::<Vec<_>>()
                .join("/")
        });
    let params: Vec<usize> = route
        .path
        .split('/')
        .enumerate()
        .filter(|(_, seg)| seg.starts_with('{'))
        .map(|(i, _)| i)
        .collect();
    let full = s.role.full_on(route.access);
    let cookie = s.cookie.as_str();
    let path = concrete.as_bytes().to_vec();
    let mut out = Vec::new();

    // Path segments of the wrong shape.
    let segments = bad_segments();
    for &i in &params {
        for (label, bad) in &segments {
            if !full && !matches!(*label, "dot-dot" | "invalid-utf8" | "nul") {
                continue;
            }
            let target = with_segment(&concrete, i, bad);
            out.push(match route.verb {
                Verb::Get => Probe::get(&format!("path:{label}"), target, cookie),
                Verb::Post => Probe::post(
                    &format!("path:{label}"),
                    target,
                    cookie,
                    body(&[csrf_pair(CSRF)]),
                ),
            });
        }
    }
    if params.is_empty() {
        for (label, suffix) in [
            ("suffix-invalid-utf8", &b"%ff"[..]),
            ("suffix-raw", b"\xff"),
        ] {
            let mut target = path.clone();
            target.extend_from_slice(suffix);
            out.push(Probe::get(&format!("path:{label}"), target, cookie));
        }
    }

    // Queries: the keys the pages use, and a few every handler might read.
    let mut keys: Vec<String> = s
        .harvest
        .query_keys
        .get(&index)
        .or_else(|| union.query_keys.get(&index))
        .map(|k| k.iter().cloned().collect())
        .unwrap_or_default();
    for k in ["page", "q", "next", "step"] {
        if !keys.iter().any(|x| x == k) {
            keys.push(k.to_owned());
        }
    }
    keys.truncate(10);
    let query = |label: &str, value: &[u8], dup: bool| {
        let mut target = path.clone();
        for (n, k) in keys.iter().enumerate() {
            target.push(if n == 0 { b'?' } else { b'&' });
            target.extend_from_slice(&enc(k.as_bytes()));
            target.push(b'=');
            target.extend_from_slice(value);
            if dup {
                target.extend_from_slice(format!("&{}=2", k).as_bytes());
            }
        }
        match route.verb {
            Verb::Get => Probe::get(&format!("query:{label}"), target, cookie),
            Verb::Post => Probe::post(
                &format!("query:{label}"),
                target,
                cookie,
                body(&[csrf_pair(CSRF)]),
            ),
        }
    };
    out.push(query("invalid-utf8", b"%ff%fe", false));
    out.push(query("nul", b"%00", false));
    // Handlers read queries on GET routes; a POST route's query gets the
    // two above only.
    if full && route.verb == Verb::Get {
        for n in NUMBERS {
            out.push(query(&format!("number:{n}"), &enc(n.as_bytes()), false));
        }
        out.push(query("wrong-type", b"abc", false));
        out.push(query("empty", b"", false));
        out.push(query("duplicated", b"1", true));
        out.push(query("raw-invalid-utf8", b"\xff\xfe", false));
        out.push(query("bad-escape", b"%zz%", false));
        out.push(query("control", b"%0d%0a%09", false));
        // A local-looking path with control characters (the probe's
        // redirect-target finding).
        out.push(query("control-path", b"/%0d%0a/x%09", false));
        let mut big = path.clone();
        big.extend_from_slice(b"?q=");
        big.extend(std::iter::repeat_n(b'a', MB));
        out.push(Probe::get("query:1-MB", big, cookie));
    }

    if route.verb == Verb::Post {
        let fields = route_fields(s, union, index);
        out.extend(body_probes(&path, cookie, &fields, full));
    }

    // Last, so a logout or a deletion it performs does not blunt the rest.
    out.push(plain(route, &path, cookie, s, index, union));
    out
}

/// The fields of route `index`'s form as this role's pages show them, or
/// as any role's do.
fn route_fields(s: &Session, union: &Harvest, index: usize) -> Vec<(String, String)> {
    s.harvest
        .fields
        .get(&index)
        .or_else(|| union.fields.get(&index))
        .cloned()
        .unwrap_or_default()
}

/// The request a browser would send: the page's fields, a valid token.
fn plain(
    route: &RouteDef,
    path: &[u8],
    cookie: &str,
    s: &Session,
    index: usize,
    union: &Harvest,
) -> Probe {
    match route.verb {
        Verb::Get => Probe::get("plain", path.to_vec(), cookie),
        Verb::Post => {
            let fields = route_fields(s, union, index);
            let mut pairs: Vec<_> = fields
                .iter()
                .map(|(k, v)| (enc(k.as_bytes()), enc(v.as_bytes())))
                .collect();
            pairs.push(csrf_pair(CSRF));
            let mut p = Probe::post("plain", path.to_vec(), cookie, body(&pairs));
            p.headers.push(("Sec-Fetch-Site", "same-origin".to_owned()));
            p
        }
    }
}

/// Malformed bodies for a POST route with the page's `fields`. A role
/// that may not use the route gets only what the middleware sees before
/// any session check (CSRF and NUL).
fn body_probes(path: &[u8], cookie: &str, fields: &[(String, String)], full: bool) -> Vec<Probe> {
    let mut out = Vec::new();
    let post = |label: &str, pairs: Vec<(Vec<u8>, Vec<u8>)>| {
        Probe::post(label, path.to_vec(), cookie, body(&pairs))
    };
    // Value mutations need at least one field to mutate.
    let named: Vec<(String, String)> = if fields.is_empty() {
        vec![("x".to_owned(), "1".to_owned())]
    } else {
        fields.to_vec()
    };
    let each = |value: &[u8]| -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut pairs: Vec<_> = named
            .iter()
            .map(|(k, _)| (enc(k.as_bytes()), value.to_vec()))
            .collect();
        pairs.push(csrf_pair(CSRF));
        pairs
    };
    let valid: Vec<(Vec<u8>, Vec<u8>)> = named
        .iter()
        .map(|(k, v)| (enc(k.as_bytes()), enc(v.as_bytes())))
        .collect();
    let with_token = |mut pairs: Vec<(Vec<u8>, Vec<u8>)>, token: &str| {
        pairs.push(csrf_pair(token));
        pairs
    };

    out.push(post("csrf:missing", valid.clone()));
    out.push(post("nul", each(b"a%00b")));
    if !full {
        return out;
    }

    // Missing fields: all of them, then each in turn.
    out.push(post("missing:all", vec![csrf_pair(CSRF)]));
    for (skip, (name, _)) in fields.iter().enumerate().take(12) {
        let mut pairs = valid.clone();
        pairs.remove(skip);
        out.push(post(&format!("missing:{name}"), with_token(pairs, CSRF)));
    }
    // Duplicated fields: the same value twice, a different one second and
    // first, and one field five thousand times.
    let twice = |second: Option<&[u8]>, first: bool| {
        let mut pairs = Vec::new();
        for (k, v) in &valid {
            let other = second.map_or_else(|| v.clone(), <[u8]>::to_vec);
            if first {
                pairs.push((k.clone(), other));
                pairs.push((k.clone(), v.clone()));
            } else {
                pairs.push((k.clone(), v.clone()));
                pairs.push((k.clone(), other));
            }
        }
        with_token(pairs, CSRF)
    };
    out.push(post("duplicated:same", twice(None, false)));
    out.push(post(
        "duplicated:different-second",
        twice(Some(b"x"), false),
    ));
    out.push(post("duplicated:different-first", twice(Some(b"x"), true)));
    let mut many: Vec<_> = (0..5000)
        .map(|n| (valid[0].0.clone(), format!("{n}").into_bytes()))
        .collect();
    many.extend(valid.iter().cloned());
    out.push(post("duplicated:5000", with_token(many, CSRF)));
    // Wrong types and forms.
    out.push(post("type:text", each(b"abc")));
    out.push(post("type:empty", each(b"")));
    out.push(post("type:spaces", each(b"%20%205%20")));
    let mut arrays: Vec<_> = valid
        .iter()
        .map(|(k, v)| ([k.as_slice(), b"%5B%5D"].concat(), v.clone()))
        .collect();
    arrays.push(csrf_pair(CSRF));
    out.push(post("type:array", arrays));
    for n in NUMBERS {
        out.push(post(&format!("number:{n}"), each(&enc(n.as_bytes()))));
    }
    // Invalid UTF-8 and NUL, encoded and raw, in values and in names.
    out.push(post("utf8:value", each(b"%ff%fe")));
    out.push(post("utf8:value-2", each(b"a%c3%28b")));
    out.push(post("utf8:raw-value", each(b"\xff\xfe")));
    let mut bad_key = valid.clone();
    bad_key.push((b"%ff%fe".to_vec(), b"1".to_vec()));
    out.push(post("utf8:name", with_token(bad_key, CSRF)));
    out.push(post("nul:raw", each(b"a\0b")));
    out.push(post("bad-escape", each(b"%zz%")));
    out.push(post("control", each(b"%0d%0a%09%1b")));
    // Large values: just under the form limit, and 1 MB.
    for (label, size) in [("60-kB", 60 * 1024), ("1-MB", MB)] {
        let mut pairs = valid.clone();
        pairs[0].1 = vec![b'a'; size];
        out.push(post(&format!("size:{label}"), with_token(pairs, CSRF)));
    }
    // Content types: a form body declared as something else, JSON,
    // multipart, none at all.
    let form = body(&with_token(valid.clone(), CSRF));
    for ct in [
        Some("text/plain"),
        Some("application/json"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencoded; charset=utf-16"),
        Some("garbage"),
        None,
    ] {
        let mut p = Probe::post(
            &format!("content-type:{}", ct.unwrap_or("none")),
            path.to_vec(),
            cookie,
            form.clone(),
        );
        p.content_type = ct.map(str::to_owned);
        out.push(p);
    }
    let json = format!("{{\"csrf_token\":\"{CSRF}\",\"x\":1}}").into_bytes();
    let mut p = Probe::post("content-type:json-body", path.to_vec(), cookie, json);
    p.content_type = Some("application/json".to_owned());
    out.push(p);
    let multipart = format!(
        "--x\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{CSRF}\r\n--x--\r\n"
    )
    .into_bytes();
    let mut p = Probe::post(
        "content-type:multipart-body",
        path.to_vec(),
        cookie,
        multipart,
    );
    p.content_type = Some("multipart/form-data; boundary=x".to_owned());
    out.push(p);
    // CSRF: wrong, short, duplicated with the wrong one first, only in the
    // query, no cookie, a cross-site request.
    out.push(post("csrf:wrong", with_token(valid.clone(), OTHER_CSRF)));
    out.push(post("csrf:short", with_token(valid.clone(), "abc")));
    let mut dup = valid.clone();
    dup.push(csrf_pair(OTHER_CSRF));
    out.push(post("csrf:duplicated", with_token(dup, CSRF)));
    let mut in_query = path.to_vec();
    in_query.extend_from_slice(format!("?csrf_token={CSRF}").as_bytes());
    out.push(Probe::post("csrf:query", in_query, cookie, body(&valid)));
    let no_cookie = cookie
        .split("; ")
        .filter(|c| !c.starts_with("mestring_csrf="))
        .collect::<Vec<_>>()
        .join("; ");
    out.push(Probe::post(
        "csrf:no-cookie",
        path.to_vec(),
        &no_cookie,
        body(&with_token(valid.clone(), CSRF)),
    ));
    let mut p = post("csrf:cross-site", with_token(valid.clone(), CSRF));
    p.headers.push(("Sec-Fetch-Site", "cross-site".to_owned()));
    out.push(p);
    out
}

// ---- Sending and judging ----

/// A parsed answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    took: Duration,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_html(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    }
}

/// Sends `request` on a new connection from `from` and reads the answer.
/// The request is written while the answer is read, so an early answer
/// (413, 400) to a large body is still seen.
async fn exchange(addr: SocketAddr, from: IpAddr, request: Vec<u8>) -> Result<Answer, String> {
    let started = Instant::now();
    let work = async {
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket
            .bind(SocketAddr::new(from, 0))
            .map_err(|e| e.to_string())?;
        let stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
        let (mut rd, mut wr) = stream.into_split();
        let write = async move {
            // The server may answer and close before it has read it all.
            let _ = wr.write_all(&request).await;
            wr
        };
        let read = async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 16 * 1024];
            // Until the answer is complete, not until the server closes:
            // after an early answer it may drain the rest of a large body
            // for a while, which is not the answer's time.
            while !complete(&buf) {
                match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf
        };
        let (_wr, buf) = tokio::join!(write, read);
        Ok::<_, String>(buf)
    };
    let raw = tokio::time::timeout(GIVE_UP, work)
        .await
        .map_err(|_| format!("no answer within {GIVE_UP:?}"))??;
    parse(&raw, started.elapsed())
}

/// Whether `raw` holds a whole answer: its head, and a body as long as
/// `Content-Length` says or ending with the last chunk.
fn complete(raw: &[u8]) -> bool {
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let body = &raw[head_end + 4..];
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return body.len() >= len;
    }
    head.contains("transfer-encoding: chunked") && body.ends_with(b"0\r\n\r\n")
}

fn parse(raw: &[u8], took: Duration) -> Result<Answer, String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no complete answer ({} bytes)", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Ok(Answer {
        status,
        headers,
        body,
        took,
    })
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        rest = &rest[eol + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    out
}

#[derive(Default)]
struct Report {
    sent: usize,
    failures: Vec<String>,
    /// Requests and time per category, for the summary line.
    by_category: BTreeMap<String, (usize, Duration)>,
}

impl Report {
    fn check(
        &mut self,
        route: &RouteDef,
        role: Role,
        probe: &Probe,
        answer: Result<Answer, String>,
    ) {
        self.sent += 1;
        if let Ok(a) = &answer {
            // Sizes apart: a slow 1 MB answer should stand out.
            let category = if probe.label.starts_with("size") {
                probe.label.clone()
            } else {
                probe.label.split(':').next().unwrap_or_default().to_owned()
            };
            let entry = self.by_category.entry(category).or_default();
            entry.0 += 1;
            entry.1 += a.took;
        }
        let what = format!("{route:?} as {role:?} [{}]", probe.label);
        let a = match answer {
            Ok(a) => a,
            Err(e) => {
                self.failures.push(format!("{what}: {e}"));
                return;
            }
        };
        if !(200..500).contains(&a.status) {
            self.failures.push(format!("{what}: status {}", a.status));
        }
        if a.took > SLOW {
            self.failures.push(format!("{what}: took {:?}", a.took));
        }
        if probe.label != "plain" {
            return;
        }
        // The table's access rule, as the server applies it.
        let may = role.may_use(route.access);
        if !may && (200..300).contains(&a.status) {
            self.failures
                .push(format!("{what}: {} for a role without access", a.status));
        }
        // A role with access really gets past the session check, so the
        // malformed requests above reached the handler.
        let to_login = a
            .header("location")
            .is_some_and(|l| l.starts_with("/login") || l.starts_with("/staff/login"));
        if may && route.access != Access::Public && route.verb == Verb::Get && to_login {
            self.failures.push(format!(
                "{what}: sent to the login page despite its session"
            ));
        }
    }
}
