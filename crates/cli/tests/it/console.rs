//! The officer's console in a real browser: Debian's Chromium driven
//! through WebDriver (chromedriver) against real node processes. Sign-in
//! and sign-out, the banner's marking and colour, the agreements' notice
//! countdown, an item with both labels, a refusal for a person without
//! need-to-know, a release and a withheld one from an item's page, the
//! ledger page, a warning flight appearing live (published at KOR, through
//! the USA hub), CSRF and a missing session refused, no console errors.
//! Each page is saved as a screenshot under `target/console/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::tmp;
use crate::holding::{As, ca, kor_item_at_jpn, person};
use crate::serve::Server;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's key codes.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// WCAG 2.1 contrast of every visible element's own text against the first
/// opaque background behind it (alpha blended), as the browser styled it.
const CONTRAST: &str = r#"
function rgb(c) {
  var m = /rgba?\(([^)]+)\)/.exec(c || "");
  if (!m) { return null; }
  var p = m[1].split(",").map(function (x) { return parseFloat(x); });
  return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
}
function lum(c) {
  function ch(v) { v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }
  return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
}
function over(top, under) {
  var a = top.a;
  return { r: top.r * a + under.r * (1 - a), g: top.g * a + under.g * (1 - a), b: top.b * a + under.b * (1 - a), a: 1 };
}
function behind(el) {
  var layers = [];
  for (var e = el; e && e.nodeType === 1; e = e.parentElement) {
    var c = rgb(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0) { layers.push(c); if (c.a >= 1) { break; } }
  }
  var base = { r: 255, g: 255, b: 255, a: 1 };
  for (var i = layers.length - 1; i >= 0; i--) { base = over(layers[i], base); }
  return base;
}
var low = [];
document.querySelectorAll("body *").forEach(function (el) {
  var own = Array.prototype.some.call(el.childNodes, function (n) { return n.nodeType === 3 && n.textContent.trim() !== ""; });
  if (!own || el.getClientRects().length === 0) { return; }
  var s = getComputedStyle(el);
  if (s.visibility === "hidden" || parseFloat(s.opacity) === 0) { return; }
  var svg = el instanceof SVGElement;
  var fg = rgb(svg ? s.fill : s.color);
  if (!fg) { return; }
  var bg = behind(el);
  fg = over(fg, bg);
  var l1 = lum(fg), l2 = lum(bg);
  var ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  var size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 700;
  var large = size >= 24 || (bold && size >= 18.66);
  if (ratio < (large ? 3 : 4.5)) {
    low.push({ tag: el.tagName, text: el.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100, fg: svg ? s.fill : s.color, bg: "rgb(" + [bg.r, bg.g, bg.b].map(Math.round).join(",") + ")" });
  }
});
return low;
"#;

/// A Chromium session through chromedriver, ended when dropped.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    shots: PathBuf,
}

impl Browser {
    fn start(profile: &Path, ca: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start chromedriver ({e}): install Debian's chromium and chromium-driver (`apt-get install chromium chromium-driver fonts-noto-cjk`; .ci/run does)"
                )
            });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Plain HTTP to chromedriver; the client wants a TLS set-up all the same.
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(gsomia_api::user_tls_config(ca).unwrap())
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..200 {
            if rt
                .block_on(http.get(format!("{base}/status")).send())
                .is_ok_and(|r| r.status().is_success())
            {
                ready = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(ready, "chromedriver did not answer");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let r: Value = rt
            .block_on(async {
                http.post(format!("{base}/session"))
                    .json(&caps)
                    .send()
                    .await?
                    .json()
                    .await
            })
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_owned();
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            driver,
            base,
            session,
            http,
            rt,
            shots,
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let r: Value = self
            .rt
            .block_on(async {
                let mut req = self.http.request(method, url);
                if let Some(b) = body {
                    req = req.json(&b);
                }
                req.send().await?.json().await
            })
            .unwrap();
        r["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (bounded) for a navigation a click began to land where `ends` says.
    fn landed(&self, ends: &str) -> bool {
        for _ in 0..200 {
            if self.url().ends_with(ends) && self.ready() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits (bounded) for a navigation to an address containing `part`.
    fn reached(&self, part: &str) -> bool {
        for _ in 0..200 {
            if self.url().contains(part) && self.ready() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn ready(&self) -> bool {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": "return document.readyState", "args": [] })),
        ) == "complete"
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            reqwest::Method::POST,
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no `{css}` on {}: {v}", self.url()))
            .to_owned()
    }

    fn all(&self, css: &str) -> Vec<String> {
        self.call(
            reqwest::Method::POST,
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
        .collect()
    }

    fn count(&self, css: &str) -> usize {
        self.all(css).len()
    }

    /// The text of `css` if it is on the page now (a page being replaced
    /// may have lost it).
    fn try_text(&self, css: &str) -> Option<String> {
        let el = self.all(css).pop()?;
        self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .as_str()
            .map(str::to_owned)
    }

    fn text(&self, css: &str) -> String {
        let el = self.find(css);
        self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn css_value(&self, css: &str, property: &str) -> String {
        let el = self.find(css);
        self.call(
            reqwest::Method::GET,
            &format!("/element/{el}/css/{property}"),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    fn type_in(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn click(&self, css: &str) {
        let el = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        );
    }

    fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves the page as `target/console/NAME.png`, after checking that
    /// every piece of text on it meets WCAG AA contrast.
    fn shot(&self, name: &str) {
        let low = self.low_contrast();
        assert!(
            low.is_empty(),
            "{name}: text below WCAG AA contrast: {low:#?}"
        );
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// Every visible piece of text whose contrast with what is behind it is
    /// below WCAG 2.1 AA (4.5:1, or 3:1 for large text), computed by the
    /// browser from the styles it applied (SVG text by its fill).
    fn low_contrast(&self) -> Vec<Value> {
        let v = self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": CONTRAST, "args": [] })),
        );
        v.as_array().cloned().unwrap_or_default()
    }

    /// Presses a key (a WebDriver key code, e.g. TAB) on the focused element.
    fn press(&self, key: &str) {
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(
                json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
                    { "type": "keyDown", "value": key }, { "type": "keyUp", "value": key }
                ]}]}),
            ),
        );
    }

    /// The focused element: its tag, id, text, and whether its focus is drawn.
    fn focused(&self) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": "var e = document.activeElement; var s = getComputedStyle(e); \
                return { tag: e.tagName.toLowerCase(), id: e.id, text: (e.textContent || e.value || '').trim(), \
                         outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 };",
                "args": [] })),
        )
    }

    /// The browser's console messages at warning level or worse.
    fn errors(&self) -> Vec<Value> {
        let v = self.call(
            reqwest::Method::POST,
            "/se/log",
            Some(json!({ "type": "browser" })),
        );
        v.as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
            .collect()
    }

    fn sign_in(&self, url: &str, token: &str) {
        self.go(&format!("{url}/signin"));
        self.type_in("#token", token);
        self.click("#signin");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.rt.block_on(
            self.http
                .delete(format!("{}/session/{}", self.base, self.session))
                .send(),
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn an_officer_signs_in_and_sees_banners_agreements_and_both_labels_in_a_real_browser() {
    let root = tmp("console");
    let [jpn, usa, kor] = crate::reclassify::trio(&root);
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, tanaka) = person(&jpn, "Tanaka", "極秘", "regional", "officer");
    let (_, mori) = person(&jpn, "Mori", "極秘", "warning", "officer");
    let (_, suzuki) = person(&jpn, "Suzuki", "極秘", "dprk", "security-officer");
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (_, kang) = person(&kor, "Kang", "군사II급비밀", "warning", "officer");
    let (js, us, ks) = (
        Server::start(&jpn),
        Server::start(&usa),
        Server::start(&kor),
    );
    let j = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &sato,
    };
    let k = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &kim,
    };
    let (_, held) = kor_item_at_jpn(&root, &k, &j, "console-item");
    let b = Browser::start(&root.join("chromium"), &jpn.join("tls/ca.pem"));

    // No session: the sign-in page. A wrong token is refused there.
    b.go(&format!("{}/", js.url));
    assert!(b.url().ends_with("/signin"), "{}", b.url());
    b.type_in("#token", "gsomia_not-a-token");
    b.click("#signin");
    // The same address before and after: wait for the answer's words.
    let mut answered = false;
    for _ in 0..200 {
        if b.ready() && b.source().contains("Not signed in") {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(answered, "{}", b.source());
    // The refused sign-in's 401 is the only message the browser logged.
    let logged = b.errors();
    assert!(
        logged
            .iter()
            .all(|e| e["message"].as_str().unwrap_or("").contains("401")),
        "{logged:?}"
    );
    b.shot("signin-refused");

    // Signed in: the agreements, with the notice deadline's countdown,
    // under the banner of a page with nothing classified.
    b.sign_in(&js.url, &sato);
    assert!(b.landed("/"), "{}", b.url());
    let row = b.text("#agreement-jp-kr-2016");
    assert!(
        row.contains("in_force") && row.contains("days left"),
        "{row}"
    );
    assert!(
        b.text("#banner-top").contains("UNCLASSIFIED"),
        "{}",
        b.text("#banner-top")
    );
    b.shot("agreements");
    // The agreement's own page: its timeline drawn, and a what-if without
    // the 2023 withdrawal of Seoul's notes.
    b.click("#agreement-jp-kr-2016 a");
    assert!(b.landed("/agreements/jp-kr-2016"), "{}", b.url());
    assert!(b.count("#timeline .tick") >= 4, "{}", b.source());
    let real = b.text("#status");
    assert!(real.starts_with("in_force"), "{real}");
    let rows = b.text("table.timeline");
    assert!(
        rows.contains("withdraw_notice") && rows.contains("art 21"),
        "{rows}"
    );
    b.shot("agreement");
    // The last easing event with a what-if link: the 2023 withdrawal.
    let withdrawal = b.all("tr.entry.eases a").pop().expect("a withdrawal row");
    b.call(
        reqwest::Method::POST,
        &format!("/element/{withdrawal}/click"),
        Some(json!({})),
    );
    for _ in 0..200 {
        if b.url().contains("without=") && b.ready() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(b.text("#whatif").contains("had not happened"));
    assert_ne!(
        b.text("#status"),
        real,
        "without the withdrawal the state differs"
    );
    b.shot("agreement-whatif");

    // The items: KOR's item with both labels, the page marked 極秘 in red.
    b.go(&format!("{}/items", js.url));
    let page = b.source();
    assert!(
        page.contains("군사II급비밀") && page.contains("極秘"),
        "{page}"
    );
    assert_eq!(b.text("#banner-top"), "極秘");
    assert_eq!(b.text("#banner-bottom"), "極秘");
    assert_eq!(
        b.css_value("#banner-top", "background-color"),
        "rgba(200, 16, 46, 1)"
    );
    b.shot("items");
    b.go(&format!("{}/items/{held}", js.url));
    assert!(b.text("#originator-label").contains("KOR 군사II급비밀"));
    assert!(b.text("#equivalent-label").contains("極秘"));
    assert_eq!(
        b.text("#banner-top"),
        "極秘 // KOR 군사II급비밀 // REL TO JPN"
    );
    assert!(
        b.source().contains("lang=\"ko\""),
        "Korean text is marked as such"
    );
    b.shot("item");
    let errors = b.errors();
    assert!(errors.is_empty(), "{errors:?}");

    // A release from an item's page: decided and shown with its reasons;
    // one the label's REL TO forbids is withheld, naming the rule.
    let submit = |rel: &str, text: &str| {
        j.ok(&[
            "item",
            "submit",
            "--level",
            "極秘",
            "--topic",
            "dprk.missile",
            "--rel-to",
            rel,
            "--in",
            crate::common::s(&crate::holding::file(&root, &format!("{text}.txt"), text)),
        ])["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ours = submit("KOR", "for-kor");
    b.go(&format!("{}/items/{ours}", js.url));
    b.click("#release");
    assert!(b.landed("/release"), "{}", b.url());
    assert!(
        b.text("#decision").starts_with("RELEASED to KOR"),
        "{}",
        b.source()
    );
    b.shot("released");
    let not_for_kor = submit("USA", "not-for-kor");
    b.go(&format!("{}/items/{not_for_kor}", js.url));
    b.click("#release");
    assert!(b.landed("/release"), "{}", b.url());
    assert_eq!(b.text("#decision"), "WITHHELD");
    assert!(
        b.text("#reasons").contains("REL TO"),
        "{}",
        b.text("#reasons")
    );
    b.shot("withheld");
    // The ledger page: its size and the partners' cosignatures.
    b.go(&format!("{}/ledger", js.url));
    assert!(b.text("#ledger-size").contains("records"), "{}", b.source());
    b.shot("ledger");
    let errors = b.errors();
    assert!(errors.is_empty(), "{errors:?}");

    // Warnings: a flight published while the page is open appears on it
    // live, row by row and plotted (Mori follows the warning feed).
    b.go(&format!("{}/", js.url));
    b.click(".signout button");
    assert!(b.landed("/signin"), "{}", b.url());
    b.sign_in(&js.url, &mori);
    assert!(b.landed("/"), "{}", b.url());
    b.go(&format!("{}/warnings", js.url));
    let mut live = false;
    for _ in 0..200 {
        if b.text("#feed-state") == "live" {
            live = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(live, "the feed did not open: {}", b.source());
    // Published at KOR; it reaches JPN through the USA hub (rule 17).
    let publisher = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &kang,
    };
    let w = publisher.ok(&["warn", "publish", "--launch-point", "39.03,125.75"]);
    let wid = w["id"].as_str().unwrap().to_owned();
    publisher.ok(&["warn", "track", &wid, "--point", "39.6,128.1,150"]);
    let mut rows = 0;
    for _ in 0..200 {
        rows = b.count("tr.update.live");
        if rows >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rows, 2, "{}", b.source());
    assert_eq!(b.count("#points circle"), 2);
    // The banner rose to the warnings' level as they arrived.
    assert_eq!(b.text("#banner-top"), "極秘");
    assert_eq!(
        b.css_value("#banner-bottom", "background-color"),
        "rgba(200, 16, 46, 1)"
    );
    b.shot("warnings");
    let errors = b.errors();
    assert!(errors.is_empty(), "{errors:?}");

    // Signed out; Tanaka, without need-to-know, is refused the item.
    b.go(&format!("{}/", js.url));
    b.click(".signout button");
    assert!(b.landed("/signin"), "{}", b.url());
    b.go(&format!("{}/items", js.url));
    assert!(b.url().ends_with("/signin"), "signed out: {}", b.url());
    b.sign_in(&js.url, &tanaka);
    assert!(b.landed("/"), "{}", b.url());
    b.go(&format!("{}/items/{held}", js.url));
    assert!(
        b.text(".refused").contains("not readable by you"),
        "{}",
        b.source()
    );
    b.shot("refused");
    // Officers see neither the register nor the consents.
    b.go(&format!("{}/people", js.url));
    assert!(
        b.text(".refused").contains("security officers"),
        "{}",
        b.source()
    );
    // The two refusals (404, 403) are the only messages the browser logged.
    let logged = b.errors();
    assert!(
        logged.len() == 2
            && logged.iter().all(|e| {
                let m = e["message"].as_str().unwrap_or("");
                m.contains("404") || m.contains("403")
            }),
        "{logged:?}"
    );

    // A security officer: the register, and a consent given and revoked.
    b.go(&format!("{}/", js.url));
    b.click(".signout button");
    assert!(b.landed("/signin"), "{}", b.url());
    b.sign_in(&js.url, &suzuki);
    assert!(b.landed("/"), "{}", b.url());
    b.go(&format!("{}/people", js.url));
    let register = b.text("table.people");
    assert!(
        register.contains("Sato") && register.contains("Tanaka"),
        "{register}"
    );
    b.shot("people");
    b.go(&format!("{}/consents", js.url));
    b.click("#holder option[value=USA]");
    b.click("#recipient option[value=KOR]");
    b.type_in("#topic", "dprk.missile");
    b.type_in("#expires", "2099-01-01T00:00:00+09:00");
    b.click("#grant");
    let mut given = false;
    for _ in 0..200 {
        if b.ready() && b.try_text("#outcome").is_some_and(|t| t.contains("given")) {
            given = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(given, "{}", b.source());
    b.shot("consent-given");
    b.click(".revoke");
    let mut revoked = false;
    for _ in 0..200 {
        if b.ready()
            && b.try_text("#outcome")
                .is_some_and(|t| t.contains("revoked"))
        {
            revoked = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(revoked, "{}", b.source());
    assert!(b.text("table.consents").contains("revoked"));
    let errors = b.errors();
    assert!(errors.is_empty(), "{errors:?}");
    drop(b);

    // Outside a browser: a form without its CSRF token, and a page without
    // a session, are refused; every page carries the policy headers.
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(gsomia_api::user_tls_config(&jpn.join("tls/ca.pem")).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = http
            .post(format!("{}/signin", js.url))
            .header("cookie", "gsomia_signin=aaaa")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={sato}&csrf=bbbb"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = http.get(format!("{}/", js.url)).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/signin");
        let r = http.get(format!("{}/signin", js.url)).send().await.unwrap();
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        // Scripts only from the console's own file; nothing inline, nothing eval'd.
        assert!(
            csp.contains("default-src 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe"),
            "{csp}"
        );
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("Secure")
                && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
    });
    drop((js, us, ks));
}

#[test]
fn inbox_and_outbox_filter_and_page_with_the_keyboard_alone_and_every_page_meets_contrast() {
    let root = tmp("console-keys");
    let (jpn, kor) = crate::holding::pair(&root);
    let (_, sato) = person(&jpn, "Sato", "極秘", "dprk", "officer");
    let (_, kim) = person(&kor, "Kim", "군사II급비밀", "dprk", "officer");
    let (js, ks) = (Server::start(&jpn), Server::start(&kor));
    let j = As {
        url: &js.url,
        ca: ca(&jpn),
        token: &sato,
    };
    let k = As {
        url: &ks.url,
        ca: ca(&kor),
        token: &kim,
    };
    let (_, held) = kor_item_at_jpn(&root, &k, &j, "keys-item");
    let submit = |topic: &str, text: &str| {
        j.ok(&[
            "item",
            "submit",
            "--level",
            "極秘",
            "--topic",
            topic,
            "--rel-to",
            "KOR",
            "--in",
            crate::common::s(&crate::holding::file(&root, &format!("{text}.txt"), text)),
        ])["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let missile = submit("dprk.missile", "missile");
    let nuclear = submit("dprk.nuclear", "nuclear");
    let r = j.ok(&["item", "release", &missile, "--to", "KOR"]);
    assert_eq!(r["decision"], "release", "{r}");
    let b = Browser::start(&root.join("chromium"), &jpn.join("tls/ca.pem"));

    // Sign-in by keyboard: the first Tab reaches the skip link, drawn with
    // its focus ring; the token typed, Enter submits.
    b.go(&format!("{}/signin", js.url));
    b.press(TAB);
    let f = b.focused();
    assert_eq!(
        (f["tag"].as_str(), f["text"].as_str()),
        (Some("a"), Some("Skip to content")),
        "{f}"
    );
    assert_eq!(f["outline"], true, "the focus is visible: {f}");
    b.press(TAB);
    assert_eq!(b.focused()["id"], "token");
    b.type_in("#token", &sato);
    b.press(ENTER);
    assert!(b.landed("/"), "{}", b.url());
    // Skip to content: Enter on the link moves the focus past the menu.
    b.press(TAB);
    b.press(ENTER);
    assert_eq!(b.focused()["id"], "content");
    b.press(TAB);
    let f = b.focused();
    assert_eq!(
        f["tag"], "a",
        "the first link of the page's own content: {f}"
    );
    assert_eq!(f["outline"], true, "{f}");

    // The inbox: all three items, each once.
    b.go(&format!("{}/items", js.url));
    let ids = |b: &Browser| -> Vec<String> {
        b.all("tr.item td:nth-child(2) a")
            .iter()
            .map(|e| {
                b.call(reqwest::Method::GET, &format!("/element/{e}/text"), None)
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let mut all = ids(&b);
    all.sort();
    let mut want = vec![held.clone(), missile.clone(), nuclear.clone()];
    want.sort();
    assert_eq!(all, want);
    b.shot("inbox");
    // A topic typed and Enter: that item alone, the filter kept in the form.
    b.type_in("#f-topic", "dprk.nuclear");
    b.press(ENTER);
    assert!(b.reached("topic=dprk.nuclear"), "{}", b.url());
    assert_eq!(ids(&b), vec![nuclear.clone()]);
    let kept = b.find("#f-topic");
    assert_eq!(
        b.call(
            reqwest::Method::GET,
            &format!("/element/{kept}/property/value"),
            None
        ),
        "dprk.nuclear"
    );
    // The originator chosen from the list: KOR's item alone.
    b.go(&format!("{}/items", js.url));
    b.click("#f-originator option[value=KOR]");
    b.click("#filter");
    assert!(b.reached("originator=KOR"), "{}", b.url());
    assert_eq!(ids(&b), vec![held.clone()]);
    // Nothing stored since 2099; a `since` that is no date is refused, saying why.
    b.go(&format!("{}/items?since=2099-01-01", js.url));
    assert_eq!(b.count("tr.item"), 0);
    assert!(b.text("#none").starts_with("None"));
    b.go(&format!("{}/items?since=yesterday", js.url));
    assert!(b.text(".refused").contains("`since`"), "{}", b.source());
    // Pages of one, JPN's own items: each once, the filter carried along.
    b.go(&format!("{}/items?originator=JPN&limit=1", js.url));
    let mut seen = ids(&b);
    while b.count("#next") == 1 {
        let next = b.find("#next");
        let href = b.call(
            reqwest::Method::GET,
            &format!("/element/{next}/attribute/href"),
            None,
        );
        assert!(href.as_str().unwrap().contains("originator=JPN"), "{href}");
        let before = b.url();
        b.click("#next");
        for _ in 0..200 {
            if b.url() != before && b.ready() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(b.url().contains("next="), "{}", b.url());
        seen.extend(ids(&b));
    }
    seen.sort();
    let mut ours = vec![missile.clone(), nuclear.clone()];
    ours.sort();
    assert_eq!(seen, ours);

    // The outbox: the release to KOR, delivered with KOR's receipt; none refused.
    crate::holding::until("the receipt", || {
        let t = j.ok(&["transfer", "list"]);
        (t["transfers"][0]["state"] == "delivered").then_some(())
    });
    b.go(&format!("{}/transfers", js.url));
    let row = b.text("tr.transfer");
    assert!(
        row.contains(&missile) && row.contains("delivered") && row.contains("receipt at"),
        "{row}"
    );
    b.shot("outbox");
    b.click("#f-state option[value=refused]");
    b.click("#filter");
    assert!(b.reached("state=refused"), "{}", b.url());
    assert_eq!(b.count("tr.transfer"), 0);

    // Every other page meets contrast too.
    for page in [
        "/",
        "/agreements/jp-kr-2016",
        "/ledger",
        "/warnings",
        &format!("/items/{held}"),
    ] {
        b.go(&format!("{}{page}", js.url));
        let low = b.low_contrast();
        assert!(low.is_empty(), "{page}: {low:#?}");
    }
    // The only message the browser logged: the refused `since` (400).
    let logged = b.errors();
    assert!(
        logged.len() == 1 && logged[0]["message"].as_str().unwrap_or("").contains("400"),
        "{logged:?}"
    );
    drop(b);
    drop((js, ks));
}
