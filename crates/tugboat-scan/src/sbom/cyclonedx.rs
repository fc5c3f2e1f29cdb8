//! The SBOM as CycloneDX 1.5 JSON.
//!
//! Why CycloneDX rather than SPDX: it is purl-first (a component's `purl` is what scanners and OSV match on,
//! SPDX carries it as one external reference among others), it is what Trivy and Grype emit by default so
//! tooling downstream already reads it, and it states the same facts in a smaller document (no mandatory
//! document namespace, per-package license/download/verification fields or relationship boilerplate).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::{PackageKind, Sbom};

/// CycloneDX 1.5 JSON (metadata.component = the image; components with purl, type library/application,
/// properties for location and source package).
///
/// Components: the operating system (when os-release was found), an `application` for each binary or
/// lockfile that packages were found in, and a `library` per package; `dependencies` ties the image to
/// them and each of them to its packages. Deterministic: no timestamp or random serial number, so two runs
/// over one image give the same document.
pub fn cyclonedx(sbom: &Sbom) -> Value {
    let mut components = Vec::new();
    let mut image_deps = Vec::new();
    // bom-ref of each group (the OS, or an application at a location) -> its packages' bom-refs.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(os) = &sbom.os {
        let mut c = json!({"type": "operating-system", "bom-ref": "os", "name": os.id});
        if let Some(v) = &os.version_id {
            c["version"] = json!(v);
        }
        if let Some(p) = &os.pretty_name {
            c["description"] = json!(p);
        }
        components.push(c);
        image_deps.push("os".to_string());
        groups.insert("os".into(), Vec::new());
    }
    let mut apps = BTreeSet::new();
    let mut used_refs = BTreeSet::new();
    let mut libraries = Vec::new();
    for p in &sbom.packages {
        let os_package = matches!(p.kind, PackageKind::Deb | PackageKind::Apk);
        let group = if os_package && sbom.os.is_some() {
            "os".to_string()
        } else {
            apps.insert(p.location.clone());
            format!("app:{}", p.location)
        };
        // A purl can repeat (one crate in two lockfiles): the location makes the reference unique.
        let mut bom_ref = format!("{}#{}", p.purl, p.location);
        let mut n = 1;
        while !used_refs.insert(bom_ref.clone()) {
            n += 1;
            bom_ref = format!("{}#{}#{n}", p.purl, p.location);
        }
        let mut properties = vec![json!({"name": "tugboat:location", "value": p.location})];
        if let Some(e) = &p.ecosystem {
            properties.push(json!({"name": "tugboat:ecosystem", "value": e.osv_name()}));
        }
        if let Some(s) = &p.source {
            properties.push(json!({"name": "tugboat:source-name", "value": s.name}));
            properties.push(json!({"name": "tugboat:source-version", "value": s.version}));
        }
        libraries.push(json!({
            "type": "library",
            "bom-ref": bom_ref,
            "name": p.name,
            "version": p.version,
            "purl": p.purl,
            "properties": properties,
        }));
        groups.entry(group).or_default().push(bom_ref);
    }
    for location in &apps {
        let r = format!("app:{location}");
        components.push(json!({
            "type": "application",
            "bom-ref": r,
            "name": location,
            "properties": [{"name": "tugboat:location", "value": location}],
        }));
        image_deps.push(r);
    }
    components.extend(libraries);
    let mut dependencies = vec![json!({"ref": "image", "dependsOn": image_deps})];
    for (r, deps) in groups {
        dependencies.push(json!({"ref": r, "dependsOn": deps}));
    }
    let mut image = json!({"type": "container", "bom-ref": "image", "name": sbom.image});
    if let Some(id) = &sbom.image_id {
        image["properties"] = json!([{"name": "tugboat:image-id", "value": id}]);
    }
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "tug", "version": env!("CARGO_PKG_VERSION")}]},
            "component": image,
        },
        "components": components,
        "dependencies": dependencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbom::{OsRelease, Package, Source};
    use crate::Ecosystem;

    #[test]
    fn image_os_applications_and_libraries() {
        let os = OsRelease::parse("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n");
        let deb = Package {
            kind: PackageKind::Deb,
            name: "libssl3".into(),
            version: "3.0.11-1".into(),
            ecosystem: Some(Ecosystem::Debian("12".into())),
            source: Some(Source { name: "openssl".into(), version: "3.0.11-1".into() }),
            location: "var/lib/dpkg/status".into(),
            purl: "pkg:deb/debian/libssl3@3.0.11-1?distro=debian-12&upstream=openssl".into(),
        };
        let krate = Package {
            kind: PackageKind::Crate,
            name: "itoa".into(),
            version: "1.0.11".into(),
            ecosystem: Some(Ecosystem::CratesIo),
            source: None,
            location: "usr/local/bin/app".into(),
            purl: "pkg:cargo/itoa@1.0.11".into(),
        };
        let mut again = krate.clone();
        again.location = "app/Cargo.lock".into();
        let sbom =
            Sbom { image: "app:1".into(), image_id: Some("sha256:abc".into()), os, packages: vec![deb, krate, again] };
        let doc = cyclonedx(&sbom);
        assert_eq!(doc["specVersion"], "1.5");
        assert_eq!(doc["metadata"]["component"]["name"], "app:1");
        assert_eq!(doc["metadata"]["component"]["properties"][0]["value"], "sha256:abc");
        let comps = doc["components"].as_array().unwrap();
        let types: Vec<_> = comps.iter().map(|c| c["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["operating-system", "application", "application", "library", "library", "library"]);
        assert_eq!(comps[3]["purl"], "pkg:deb/debian/libssl3@3.0.11-1?distro=debian-12&upstream=openssl");
        let props = comps[3]["properties"].as_array().unwrap();
        assert!(props.contains(&json!({"name": "tugboat:source-name", "value": "openssl"})));
        let refs: BTreeSet<_> = comps.iter().map(|c| c["bom-ref"].as_str().unwrap()).collect();
        assert_eq!(refs.len(), comps.len(), "bom-refs are unique");
        let deps = doc["dependencies"].as_array().unwrap();
        assert_eq!(deps[0]["dependsOn"], json!(["os", "app:app/Cargo.lock", "app:usr/local/bin/app"]));
        assert!(deps.iter().any(|d| d["ref"] == "os" && d["dependsOn"].as_array().unwrap().len() == 1));
        assert_eq!(cyclonedx(&sbom), doc, "deterministic");
    }
}
