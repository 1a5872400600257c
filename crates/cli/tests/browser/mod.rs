//! A WebDriver client for Debian's Chromium through chromedriver, shared
//! by the console's browser tests and its live-warning bench: sessions,
//! navigation, elements, keys, scripts, screenshots, and a WCAG contrast
//! audit of the page shown.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's key codes.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

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
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    shots: PathBuf,
}

impl Browser {
    pub fn start(profile: &Path, ca: &Path) -> Browser {
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

    pub fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
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

    pub fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (bounded) for a navigation a click began to land where `ends` says.
    pub fn landed(&self, ends: &str) -> bool {
        for _ in 0..200 {
            if self.url().ends_with(ends) && self.ready() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits (bounded) for a navigation to an address containing `part`.
    pub fn reached(&self, part: &str) -> bool {
        for _ in 0..200 {
            if self.url().contains(part) && self.ready() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn ready(&self) -> bool {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": "return document.readyState", "args": [] })),
        ) == "complete"
    }

    pub fn find(&self, css: &str) -> String {
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

    pub fn all(&self, css: &str) -> Vec<String> {
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

    pub fn count(&self, css: &str) -> usize {
        self.all(css).len()
    }

    /// The text of `css` if it is on the page now (a page being replaced
    /// may have lost it).
    pub fn try_text(&self, css: &str) -> Option<String> {
        let el = self.all(css).pop()?;
        self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .as_str()
            .map(str::to_owned)
    }

    pub fn text(&self, css: &str) -> String {
        let el = self.find(css);
        self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn css_value(&self, css: &str, property: &str) -> String {
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

    pub fn type_in(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        );
    }

    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        );
    }

    pub fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves the page as `target/console/NAME.png`, after checking that
    /// every piece of text on it meets WCAG AA contrast.
    pub fn shot(&self, name: &str) {
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
    pub fn low_contrast(&self) -> Vec<Value> {
        let v = self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": CONTRAST, "args": [] })),
        );
        v.as_array().cloned().unwrap_or_default()
    }

    /// Presses a key (a WebDriver key code, e.g. TAB) on the focused element.
    pub fn press(&self, key: &str) {
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
    pub fn focused(&self) -> Value {
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
    pub fn errors(&self) -> Vec<Value> {
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

    pub fn sign_in(&self, url: &str, token: &str) {
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
