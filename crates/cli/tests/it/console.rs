//! The officer's console in a real browser: Debian's Chromium driven
//! through WebDriver (chromedriver) against real node processes. Sign-in
//! and sign-out, the banner's marking and colour, the agreements' notice
//! countdown, an item with both labels, a refusal for a person without
//! need-to-know, a release and a withheld one from an item's page, the
//! ledger page, a warning flight appearing live (published at KOR, through
//! the USA hub), CSRF and a missing session refused, no console errors.
//! Each page is saved as a screenshot under `target/console/`.

use std::time::Duration;

use serde_json::json;

use crate::browser::{Browser, ENTER, TAB};

use crate::common::tmp;
use crate::holding::{As, ca, kor_item_at_jpn, person};
use crate::serve::Server;

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
    // The content, opened under the access decision and ledgered.
    b.click("#open-content");
    assert!(b.landed(&format!("/items/{held}/content")), "{}", b.url());
    assert_eq!(b.text("#item-content"), "console-item");
    assert_eq!(
        b.text("#banner-top"),
        "極秘 // KOR 군사II급비밀 // REL TO JPN"
    );
    b.shot("content");
    let errors = b.errors();
    assert!(errors.is_empty(), "{errors:?}");

    // A release from an item's page: decided and shown with its reasons;
    // one the label's REL TO forbids is withheld, naming the rule.
    let submit = |rel: &str, text: &str| j.submit(&root, "極秘", "dprk.missile", rel, text);
    let ours = submit("KOR", "for-kor");
    b.go(&format!("{}/items/{ours}", js.url));
    // Before: what a release would be decided now, and why.
    let before = b.text("#preview-KOR");
    assert!(
        before.contains("released") && before.contains("jp-kr-2016"),
        "{before}"
    );
    b.click("#release");
    assert!(b.landed("/release"), "{}", b.url());
    assert!(
        b.text("#decision").starts_with("RELEASED to KOR"),
        "{}",
        b.source()
    );
    b.shot("released");
    // After: the item's history shows the release and KOR's receipt with
    // KOR's signed checkpoint.
    let mut receipt = String::new();
    for _ in 0..200 {
        b.go(&format!("{}/items/{ours}", js.url));
        receipt = b.text("table.history");
        if receipt.contains("delivered") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        receipt.contains("release_decided")
            && receipt.contains("delivered")
            && receipt.contains("receipt_checkpoint"),
        "{receipt}"
    );
    let not_for_kor = submit("USA", "not-for-kor");
    b.go(&format!("{}/items/{not_for_kor}", js.url));
    let before = b.text("#preview-KOR");
    assert!(
        before.contains("withheld") && before.contains("REL TO"),
        "{before}"
    );
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
    assert!(
        b.text("#verified").starts_with("Verified in full"),
        "{}",
        b.text("#verified")
    );
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
    // Nor its content.
    b.go(&format!("{}/items/{held}/content", js.url));
    assert!(
        b.text(".refused").contains("not readable by you"),
        "{}",
        b.source()
    );
    assert_eq!(b.count("#item-content"), 0);
    // Officers see neither the register nor the consents.
    b.go(&format!("{}/people", js.url));
    assert!(
        b.text(".refused").contains("security officers"),
        "{}",
        b.source()
    );
    // The three refusals (404, 404, 403) are the only messages the browser logged.
    let logged = b.errors();
    assert!(
        logged.len() == 3
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
    let submit = |topic: &str, text: &str| j.submit(&root, "極秘", topic, "KOR", text);
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
