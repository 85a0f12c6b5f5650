use std::collections::BTreeMap;

use super::*;

fn cm(name: &str, annotation: Option<&str>, text: Option<&str>) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.to_owned());
    c.metadata.namespace = Some("auth".to_owned());
    if let Some(a) = annotation {
        c.metadata.annotations = Some(BTreeMap::from([(NAME_ANNOTATION.to_owned(), a.to_owned())]));
    }
    c.data = text.map(|t| BTreeMap::from([("authconfig.yaml".to_owned(), t.to_owned())]));
    c
}

#[test]
fn the_annotation_names_the_config_else_the_configmap_does() {
    assert_eq!(config_name(&cm("rel-authgate-a", Some("a"), None)), "a");
    assert_eq!(config_name(&cm("tenant-b", None, None)), "tenant-b");
    let s = source_of(&cm("x", None, Some("text")), "authconfig.yaml");
    assert_eq!(s.found, Found::Text("text".into()));
    assert_eq!(s.origin, "configmap auth/x");
    let s = source_of(&cm("x", None, None), "authconfig.yaml");
    assert_eq!(
        s.found,
        Found::Failed("configmap auth/x has no key `authconfig.yaml`".into())
    );
}

#[test]
fn a_relist_is_handed_over_only_when_complete() {
    let key = "authconfig.yaml";
    let mut seen = Seen::default();
    assert!(seen.apply(Event::Apply(cm("a", None, Some("1"))), key));
    assert!(seen.apply(Event::Apply(cm("b", None, Some("2"))), key));
    assert_eq!(seen.sources().len(), 2);
    // A relist: until InitDone the old picture stands, whole.
    assert!(!seen.apply(Event::Init, key));
    assert!(!seen.apply(Event::InitApply(cm("a", None, Some("1"))), key));
    assert_eq!(seen.sources().len(), 2, "b is not dropped mid-relist");
    assert!(seen.apply(Event::InitDone, key));
    let names: Vec<String> = seen.sources().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a"], "b was gone from the relist");
    assert!(seen.apply(Event::Delete(cm("a", None, None)), key));
    assert!(
        !seen.apply(Event::Delete(cm("a", None, None)), key),
        "unknown: no change"
    );
    assert!(seen.sources().is_empty());
}

#[test]
fn the_pod_namespace_comes_from_the_service_account_mount() {
    let dir = std::env::temp_dir().join(format!("authgate-ns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("namespace");
    std::fs::write(&f, "tenants\n").expect("write");
    assert_eq!(pod_namespace(&f), Ok("tenants".to_owned()));
    std::fs::write(&f, "").expect("write");
    assert!(pod_namespace(&f).is_err_and(|e| e.contains("--configmap-namespace")));
    let e = pod_namespace(&dir.join("missing")).expect_err("no file");
    assert!(e.contains("--configmap-namespace"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
