//! The Kubernetes manifests of `deploy/kubernetes/` parse, and every fleetbench container's
//! arguments are ones this CLI takes (parsed by the same clap definition the binary uses);
//! the Indexed Job's N is the `--part auto/N` its pods run; the merge reads where the parts
//! write; the ConfigMap's scenario loads.

use std::path::PathBuf;

use clap::Parser as _;
use yaml_rust2::{Yaml, YamlLoader};

use crate::args::{Args, Command};

fn manifests() -> Vec<(String, Vec<Yaml>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes exists")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the manifests: {files:?}");
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            let docs = YamlLoader::load_from_str(&text)
                .unwrap_or_else(|e| panic!("{} parses: {e}", path.display()));
            let name = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            for doc in &docs {
                assert!(
                    doc["apiVersion"].as_str().is_some() && doc["kind"].as_str().is_some(),
                    "{name}: every document has apiVersion and kind"
                );
            }
            (name, docs)
        })
        .collect()
}

/// Every (kind, name, args) of a fleetbench container, `START_AT_PLACEHOLDER` replaced as
/// docs/distributed.md replaces it.
fn fleetbench_containers(docs: &[(String, Vec<Yaml>)]) -> Vec<(String, String, Vec<String>)> {
    let mut found = Vec::new();
    for (_, file) in docs {
        for doc in file {
            let Some(containers) = doc["spec"]["template"]["spec"]["containers"].as_vec() else {
                continue;
            };
            for c in containers {
                if !c["image"]
                    .as_str()
                    .is_some_and(|i| i.starts_with("fleetbench"))
                {
                    continue;
                }
                let args = c["args"]
                    .as_vec()
                    .expect("a fleetbench container has args")
                    .iter()
                    .map(|a| {
                        let a = a.as_str().expect("args are strings");
                        a.replace("START_AT_PLACEHOLDER", "2026-12-06T18:00:00Z")
                    })
                    .collect();
                let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
                let name = doc["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                found.push((kind, name, args));
            }
        }
    }
    found
}

fn parse(args: &[String]) -> Command {
    let argv = std::iter::once("fleetbench".to_owned()).chain(args.iter().cloned());
    Args::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("{args:?} is not this CLI's: {e}"))
        .command
        .expect("a command")
}

#[test]
fn the_manifests_parse_and_their_args_are_this_cli_s() {
    let docs = manifests();
    let containers = fleetbench_containers(&docs);
    let names: Vec<&str> = containers.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["fleetbench-merge", "fleetbench-parts", "fleetbench-mock"]
    );
    let job = |name: &str| {
        docs.iter()
            .flat_map(|(_, d)| d)
            .find(|d| d["metadata"]["name"].as_str() == Some(name))
            .expect("the job")
            .clone()
    };
    let mut parts_out = None;
    let mut merge_in = None;
    for (kind, name, args) in &containers {
        match parse(args) {
            Command::Run(run) => {
                assert_eq!(kind, "Job", "{name}");
                let spec = run.part.expect("the parts run --part");
                assert_eq!(spec.index, None, "{name}: auto, from JOB_COMPLETION_INDEX");
                let j = job(name);
                assert_eq!(j["spec"]["completionMode"].as_str(), Some("Indexed"));
                for key in ["completions", "parallelism"] {
                    assert_eq!(
                        j["spec"][key].as_i64(),
                        Some(i64::from(spec.of)),
                        "{name}: {key} is the N of --part auto/N"
                    );
                }
                assert!(run.start_at.is_some(), "{name}: live parts start together");
                assert_eq!(
                    run.scenario.as_deref(),
                    Some(std::path::Path::new("/scenario/scenario.toml"))
                );
                parts_out = run.out;
            }
            Command::Merge(merge) => {
                assert_eq!(kind, "Job", "{name}");
                merge_in = Some(merge.parts);
            }
            Command::Serve(_) => assert_eq!(kind, "Deployment", "{name}"),
            other => panic!("{name}: an unexpected command {other:?}"),
        }
    }
    let parts_out = parts_out.expect("the parts write somewhere");
    assert_eq!(
        merge_in,
        Some(vec![parts_out]),
        "the merge reads where the parts write"
    );
}

#[test]
fn the_config_map_s_scenario_loads() {
    let docs = manifests();
    let map = docs
        .iter()
        .flat_map(|(_, d)| d)
        .find(|d| d["kind"].as_str() == Some("ConfigMap"))
        .expect("a ConfigMap");
    let text = map["data"]["scenario.toml"]
        .as_str()
        .expect("scenario.toml");
    let s = scenario::Scenario::from_toml(text, "configmap.yaml").expect("the scenario loads");
    assert_eq!(s.clock, scenario::ClockMode::Live);
    let part = crate::commands::part::check(&s, fleet::Part { index: 0, of: 4 }, None);
    assert!(part.is_ok(), "{part:?}");
}
