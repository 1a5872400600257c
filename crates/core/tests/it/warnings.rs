//! Missile warnings: the three data elements only, in order, once; through
//! the hub, only while the link is in force (rule 17).

use gsomia_core::warning::{
    Applied, Flight, Point, Update, WarningRefusal, WarningRoute, check_fields, decide_warning,
};

use crate::common::{reg, t};

fn p(lat: f64, lon: f64) -> Point {
    Point { lat, lon }
}

#[test]
fn a_flight_takes_its_updates_in_order_once_and_nothing_after_impact() {
    let launch = Update::Launch {
        point: p(39.0, 125.7),
        at: t("2024-01-14T14:55:00+09:00"),
    };
    let mut f = Flight::open("kor-w-1", "KOR", launch.clone()).unwrap();
    let track = |s: &str, alt| Update::Track {
        point: p(39.5, 128.0),
        alt_km: alt,
        at: t(s),
    };
    assert_eq!(f.apply(0, launch), Ok(Applied::Duplicate));
    assert_eq!(
        f.apply(1, track("2024-01-14T14:56:00+09:00", 50.0)),
        Ok(Applied::New)
    );
    assert_eq!(
        f.apply(1, track("2024-01-14T14:56:00+09:00", 50.0)),
        Ok(Applied::Duplicate)
    );
    assert!(matches!(
        f.apply(3, track("2024-01-14T14:58:00+09:00", 60.0)),
        Err(WarningRefusal::Sequence { .. })
    ));
    assert!(matches!(
        f.apply(2, track("2024-01-14T14:55:30+09:00", 60.0)),
        Err(WarningRefusal::Backwards { .. })
    ));
    assert!(matches!(
        f.apply(2, track("2024-01-14T14:57:00+09:00", -1.0)),
        Err(WarningRefusal::OutOfRange("altitude"))
    ));
    assert!(matches!(
        f.apply(
            2,
            Update::Impact {
                point: p(91.0, 0.0),
                at: t("2024-01-14T15:00:00+09:00")
            }
        ),
        Err(WarningRefusal::OutOfRange("latitude"))
    ));
    assert_eq!(
        f.apply(
            2,
            Update::Impact {
                point: p(40.0, 133.0),
                at: t("2024-01-14T15:00:00+09:00")
            }
        ),
        Ok(Applied::New)
    );
    assert!(f.closed());
    assert!(matches!(
        f.apply(3, track("2024-01-14T15:01:00+09:00", 10.0)),
        Err(WarningRefusal::Closed(_))
    ));
    assert!(matches!(
        Flight::open("x", "KOR", track("2024-01-14T14:56:00+09:00", 5.0)),
        Err(WarningRefusal::Sequence { .. })
    ));
}

#[test]
fn only_the_three_data_elements_are_accepted() {
    assert!(check_fields(["id", "seq", "kind", "launch_point", "at"]).is_ok());
    for forbidden in ["sensor_type", "sensor_location", "pre_launch_indicators"] {
        let e = check_fields(["id", forbidden]).unwrap_err();
        assert_eq!(e, WarningRefusal::ForbiddenField(forbidden.into()));
        assert!(e.to_string().contains("rule 17"));
    }
}

#[test]
fn warnings_go_through_the_hub_only_while_the_link_is_in_force() {
    let reg = reg();
    let (kor, jpn, usa) = (
        reg.party("KOR").unwrap(),
        reg.party("JPN").unwrap(),
        reg.party("USA").unwrap(),
    );
    let level = reg.level(kor, "군사II급비밀").unwrap();
    let at = t("2024-01-14T14:55:00+09:00");
    // Originator to hub, hub on to the other member.
    let (a, l) = decide_warning(&reg, kor, kor, usa, level, at).unwrap();
    assert_eq!(reg.agreement_id(a), "warning-2023");
    assert_eq!(reg.level_name(l), "SECRET");
    let (_, l) = decide_warning(&reg, kor, usa, jpn, level, at).unwrap();
    assert_eq!(reg.level_name(l), "極秘");
    // Not around the hub, not by a member that is not the hub, not back.
    assert!(matches!(
        decide_warning(&reg, kor, kor, jpn, level, at),
        Err(WarningRoute::NotThroughHub { .. })
    ));
    assert!(matches!(
        decide_warning(&reg, kor, jpn, usa, level, at),
        Err(WarningRoute::NotThroughHub { .. })
    ));
    assert!(matches!(
        decide_warning(&reg, kor, usa, kor, level, at),
        Err(WarningRoute::NotThroughHub { .. })
    ));
    // Before the link was active: nothing flows.
    let before = t("2023-12-18T23:59:59+09:00");
    let e = decide_warning(&reg, kor, kor, usa, level, before).unwrap_err();
    assert!(matches!(e, WarningRoute::NoLinkInForce { .. }), "{e}");
}
