//! One source of truth for what the deploy tooling, the image and the infrastructure must agree on.
//!
//! `deploy.toml` names the container and its port (and the cluster, service and repository);
//! hello-service's default port, the Dockerfile's EXPOSE, buildspec.yml's image definition and
//! every CloudFormation template in `infra/` must say the same. The templates are read as
//! CloudFormation reads them: `Ref` to a parameter takes its default, and `Fn::ImportValue`
//! follows the export to the template that defines it, so a rename in any one place fails here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The keys of deploy.toml that the infrastructure must match.
#[derive(Debug)]
struct DeployToml {
    cluster: String,
    service: String,
    container: String,
    container_port: u16,
    repository: String,
}

fn deploy_toml() -> DeployToml {
    let table: toml::Table = read("deploy.toml").parse().expect("deploy.toml is TOML");
    let text = |key: &str| -> String {
        table
            .get(key)
            .and_then(toml::Value::as_str)
            .unwrap_or_else(|| panic!("deploy.toml: `{key}` must be a string"))
            .to_owned()
    };
    let port = table
        .get("container_port")
        .and_then(toml::Value::as_integer)
        .expect("deploy.toml: `container_port` must be an integer");
    DeployToml {
        cluster: text("cluster"),
        service: text("service"),
        container: text("container"),
        container_port: u16::try_from(port).expect("deploy.toml: `container_port` is a port"),
        repository: text("repository"),
    }
}

/// One CloudFormation template, with short tags (`!Ref x`) rewritten to their long form
/// (`{Ref: x}`), and the stack name it is deployed as.
struct Template {
    file: String,
    stack: String,
    doc: Value,
}

/// The templates of `infra/`, and the exports they define.
struct Infra {
    templates: Vec<Template>,
    /// Export name → (template index, the output's value).
    exports: BTreeMap<String, (usize, Value)>,
}

impl Infra {
    fn load() -> Infra {
        let dir = root().join("infra");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no templates in {}", dir.display());
        let templates: Vec<Template> = files
            .iter()
            .map(|path| {
                let file = format!("infra/{}", path.file_name().unwrap().to_string_lossy());
                let doc: Value = serde_norway::from_str(&read(&file))
                    .unwrap_or_else(|e| panic!("{file}: not YAML: {e}"));
                let doc = long_form(doc);
                let stack = stack_name(&file, &doc);
                Template { file, stack, doc }
            })
            .collect();
        let mut exports = BTreeMap::new();
        for (i, t) in templates.iter().enumerate() {
            for (key, output) in entries(&t.doc, "Outputs") {
                let Some(name) = output.get("Export").and_then(|e| e.get("Name")) else {
                    continue;
                };
                let name = substitute(t, name, &|var| match var {
                    "AWS::StackName" => Some(t.stack.clone()),
                    _ => None,
                })
                .unwrap_or_else(|e| panic!("{}: Outputs.{key}.Export.Name: {e}", t.file));
                let value = output
                    .get("Value")
                    .unwrap_or_else(|| panic!("{}: Outputs.{key} has no Value", t.file));
                if let Some((other, _)) = exports.insert(name.clone(), (i, value.clone())) {
                    panic!(
                        "export {name} is defined by both {} and {}",
                        templates[other].file, t.file
                    );
                }
            }
        }
        Infra { templates, exports }
    }

    /// The value `v` takes in template `t` when every parameter keeps its default.
    fn resolve(&self, t: &Template, v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Mapping(m) if m.len() == 1 => {
                let (key, arg) = m.iter().next().unwrap();
                match key.as_str() {
                    Some("Ref") => {
                        let name = arg.as_str().ok_or("Ref of a non-string")?;
                        match t.doc["Resources"].get(name) {
                            Some(resource) => self.resource_name(t, name, resource, "Ref"),
                            None => self.parameter_default(t, name),
                        }
                    }
                    Some("Fn::GetAtt") => {
                        let (name, attribute) = match arg {
                            Value::String(s) => s.split_once('.').ok_or("GetAtt without .")?,
                            Value::Sequence(s) if s.len() == 2 => (
                                s[0].as_str().ok_or("GetAtt of a non-string")?,
                                s[1].as_str().ok_or("GetAtt of a non-string")?,
                            ),
                            _ => return Err(format!("cannot resolve {}", show(v))),
                        };
                        let resource = t.doc["Resources"]
                            .get(name)
                            .ok_or_else(|| format!("GetAtt {name}: not a resource"))?;
                        self.resource_name(t, name, resource, attribute)
                    }
                    Some("Fn::ImportValue") => {
                        let name = self.resolve_sub(t, arg)?;
                        let (i, value) = self.exports.get(&name).ok_or_else(|| {
                            format!("imports `{name}`, which no template in infra/ exports")
                        })?;
                        let exporter = &self.templates[*i];
                        self.resolve(exporter, value)
                            .map_err(|e| format!("export {name} of {}: {e}", exporter.file))
                    }
                    Some("Fn::Sub") => self.resolve_sub(t, v),
                    _ => Err(format!("cannot resolve {}", show(v))),
                }
            }
            _ => Err(format!("cannot resolve {}", show(v))),
        }
    }

    /// A string, or `Fn::Sub` over parameters and `AWS::StackName`.
    fn resolve_sub(&self, t: &Template, v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            _ => substitute(t, v, &|var| match var {
                "AWS::StackName" => Some(t.stack.clone()),
                param => self.parameter_default(t, param).ok(),
            }),
        }
    }

    /// The name a resource is created with, for the `Ref`s and attributes that return it.
    fn resource_name(
        &self,
        t: &Template,
        name: &str,
        resource: &Value,
        attribute: &str,
    ) -> Result<String, String> {
        let kind = resource["Type"].as_str().unwrap_or("?");
        let property = match (kind, attribute) {
            ("AWS::ECS::Cluster", "Ref") => "ClusterName",
            ("AWS::ECS::Service", "Name") => "ServiceName",
            ("AWS::ECR::Repository", "Ref") => "RepositoryName",
            ("AWS::Logs::LogGroup", "Ref") => "LogGroupName",
            _ => {
                return Err(format!(
                    "{attribute} of {name} ({kind}) is not resolved here"
                ));
            }
        };
        let value = resource["Properties"]
            .get(property)
            .ok_or_else(|| format!("{name} has no {property}: its name would be generated"))?;
        self.resolve(t, value)
    }

    fn parameter_default(&self, t: &Template, name: &str) -> Result<String, String> {
        let param = t
            .doc
            .get("Parameters")
            .and_then(|p| p.get(name))
            .ok_or_else(|| format!("Ref {name}: not a parameter"))?;
        let default = param
            .get("Default")
            .ok_or_else(|| format!("parameter {name} has no Default"))?;
        self.resolve(t, default)
    }

    /// Every (template, resource name, properties) of a resource type.
    fn resources<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a Template, String, &'a Value)> {
        self.templates.iter().flat_map(move |t| {
            entries(&t.doc, "Resources")
                .filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
                .map(move |(name, r)| (t, name, r.get("Properties").unwrap_or(&Value::Null)))
        })
    }

    fn expect(&self, t: &Template, at: &str, v: &Value, want: &str) {
        match self.resolve(t, v) {
            Ok(got) => assert_eq!(
                got, want,
                "{}: {at} is `{got}`, but deploy.toml (the source of truth) says `{want}`",
                t.file
            ),
            Err(e) => panic!("{}: {at}: {e}", t.file),
        }
    }
}

/// `Fn::Sub` with a plain string (no variable map): `${Name}` replaced through `lookup`.
fn substitute(
    t: &Template,
    v: &Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let text = match v.get("Fn::Sub") {
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(format!(
                "{}: only a string Fn::Sub is understood here",
                t.file
            ));
        }
        None => {
            return v
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("not a string: {}", show(v)));
        }
    };
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
        let var = &rest[start + 2..start + end];
        out.push_str(&lookup(var).ok_or_else(|| format!("cannot resolve ${{{var}}} in {text:?}"))?);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The stack name the template's Description gives ("Deploy as stack NAME."), which its
/// `${AWS::StackName}` exports take and the README's commands use.
fn stack_name(file: &str, doc: &Value) -> String {
    let description = doc.get("Description").and_then(Value::as_str).unwrap_or("");
    description
        .split("Deploy as stack ")
        .nth(1)
        .and_then(|rest| rest.split(['.', ' ']).next())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| panic!("{file}: the Description must end with `Deploy as stack NAME.`"))
        .to_owned()
}

/// `!Tag value` → `{Fn::Tag: value}` (`{Ref: value}`, `{Condition: value}`), recursively.
fn long_form(v: Value) -> Value {
    match v {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let key = match tag {
                "Ref" | "Condition" => tag.to_owned(),
                other => format!("Fn::{other}"),
            };
            let mut m = Mapping::new();
            m.insert(Value::String(key), long_form(tagged.value));
            Value::Mapping(m)
        }
        Value::Mapping(m) => {
            Value::Mapping(m.into_iter().map(|(k, v)| (k, long_form(v))).collect())
        }
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(long_form).collect()),
        other => other,
    }
}

/// The entries of a top-level section (Parameters, Resources, Outputs).
fn entries<'a>(doc: &'a Value, section: &str) -> impl Iterator<Item = (String, &'a Value)> {
    doc.get(section)
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str().unwrap_or("?").to_owned(), v))
}

fn show(v: &Value) -> String {
    serde_norway::to_string(v)
        .unwrap_or_default()
        .trim()
        .replace('\n', " ")
}

/// Every value under a key named `key` anywhere below `v`, with a path for messages.
fn find_key<'a>(v: &'a Value, key: &str, path: &str, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m {
                let name = k.as_str().unwrap_or("?");
                let here = format!("{path}.{name}");
                if name == key {
                    out.push((here.clone(), child));
                }
                find_key(child, key, &here, out);
            }
        }
        Value::Sequence(s) => {
            for (i, child) in s.iter().enumerate() {
                find_key(child, key, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn hello_service_dockerfile_and_deploy_toml_agree_on_the_port() {
    let deploy = deploy_toml();
    assert_eq!(
        hello_service::config::DEFAULT_PORT,
        deploy.container_port,
        "hello_service::config::DEFAULT_PORT differs from deploy.toml `container_port`"
    );
    let dockerfile = read("Dockerfile");
    let exposed: Vec<u16> = dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("EXPOSE "))
        .flat_map(str::split_whitespace)
        .map(|p| {
            let port = p.strip_suffix("/tcp").unwrap_or(p);
            port.parse()
                .unwrap_or_else(|_| panic!("Dockerfile: EXPOSE {p} is not a port"))
        })
        .collect();
    assert_eq!(
        exposed,
        [deploy.container_port],
        "the Dockerfile must EXPOSE exactly deploy.toml's `container_port`"
    );
}

#[test]
fn buildspec_names_the_deployed_container() {
    let deploy = deploy_toml();
    let spec: Value =
        serde_norway::from_str(&read("buildspec.yml")).expect("buildspec.yml is YAML");
    let name = spec
        .get("env")
        .and_then(|e| e.get("variables"))
        .and_then(|v| v.get("CONTAINER_NAME"))
        .and_then(Value::as_str)
        .expect("buildspec.yml: env.variables.CONTAINER_NAME");
    assert_eq!(
        name, deploy.container,
        "buildspec.yml CONTAINER_NAME differs from deploy.toml `container`"
    );
    // The image definition must take its name from that variable, not spell one of its own.
    let mut commands = Vec::new();
    find_key(&spec, "commands", "", &mut commands);
    let writes_definitions: Vec<&str> = commands
        .iter()
        .flat_map(|(_, list)| list.as_sequence().into_iter().flatten())
        .filter_map(Value::as_str)
        .filter(|c| c.contains("> imagedefinitions.json"))
        .collect();
    assert_eq!(
        writes_definitions.len(),
        1,
        "one command writes imagedefinitions.json"
    );
    assert!(
        writes_definitions[0].contains("\"$CONTAINER_NAME\""),
        "imagedefinitions.json must be written with $CONTAINER_NAME: {}",
        writes_definitions[0]
    );
}

#[test]
fn infra_runs_the_container_deploy_toml_names() {
    let deploy = deploy_toml();
    let infra = Infra::load();
    let port = deploy.container_port.to_string();

    // The task definition has the container, listening (PORT) and mapped on the port.
    let mut found = 0;
    for (t, name, props) in infra.resources("AWS::ECS::TaskDefinition") {
        let containers = props
            .get("ContainerDefinitions")
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("{}: {name} has no ContainerDefinitions", t.file));
        for (i, c) in containers.iter().enumerate() {
            let at = format!("{name}.ContainerDefinitions[{i}]");
            let cname = infra
                .resolve(t, &c["Name"])
                .unwrap_or_else(|e| panic!("{}: {at}.Name: {e}", t.file));
            if cname != deploy.container {
                continue;
            }
            found += 1;
            let mappings = c["PortMappings"].as_sequence().cloned().unwrap_or_default();
            assert!(!mappings.is_empty(), "{}: {at} maps no port", t.file);
            for (j, m) in mappings.iter().enumerate() {
                infra.expect(
                    t,
                    &format!("{at}.PortMappings[{j}].ContainerPort"),
                    &m["ContainerPort"],
                    &port,
                );
            }
            for env in c["Environment"].as_sequence().into_iter().flatten() {
                if env["Name"].as_str() == Some("PORT") {
                    infra.expect(t, &format!("{at}.Environment PORT"), &env["Value"], &port);
                }
            }
        }
    }
    assert_eq!(
        found, 1,
        "infra/ must define exactly one container named `{}` (deploy.toml `container`)",
        deploy.container
    );

    // Everything that names a container or its port: the service's load balancer entry, the
    // target group, the exports, the parameters' defaults.
    for t in &infra.templates {
        for (key, want) in [
            ("ContainerName", &deploy.container),
            ("ContainerPort", &port),
        ] {
            let mut uses = Vec::new();
            find_key(&t.doc["Resources"], key, "Resources", &mut uses);
            find_key(&t.doc["Outputs"], key, "Outputs", &mut uses);
            for (at, v) in uses {
                // An output named ContainerName is a mapping; its Value is what counts.
                let v = v.get("Value").unwrap_or(v);
                infra.expect(t, &at, v, want);
            }
            if let Some(param) = t.doc["Parameters"].get(key) {
                infra.expect(
                    t,
                    &format!("Parameters.{key}.Default"),
                    &param["Default"],
                    want,
                );
            }
        }
    }
    let mut services = 0;
    for (t, name, props) in infra.resources("AWS::ECS::Service") {
        services += 1;
        infra.expect(
            t,
            &format!("{name}.ServiceName"),
            &props["ServiceName"],
            &deploy.service,
        );
        infra.expect(
            t,
            &format!("{name}.Cluster"),
            &props["Cluster"],
            &deploy.cluster,
        );
        let balancers = props["LoadBalancers"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        assert!(
            !balancers.is_empty(),
            "{}: {name} has no LoadBalancers",
            t.file
        );
    }
    assert_eq!(services, 1, "infra/ must define exactly one ECS service");
    for (t, name, props) in infra.resources("AWS::ElasticLoadBalancingV2::TargetGroup") {
        // awsvpc: targets are task IPs on the container port.
        infra.expect(t, &format!("{name}.Port"), &props["Port"], &port);
    }
}

#[test]
fn infra_creates_the_cluster_and_repository_deploy_toml_names() {
    let deploy = deploy_toml();
    let infra = Infra::load();
    let clusters: Vec<_> = infra.resources("AWS::ECS::Cluster").collect();
    assert_eq!(
        clusters.len(),
        1,
        "infra/ must define exactly one ECS cluster"
    );
    for (t, name, props) in clusters {
        infra.expect(
            t,
            &format!("{name}.ClusterName"),
            &props["ClusterName"],
            &deploy.cluster,
        );
    }
    let repositories: Vec<_> = infra.resources("AWS::ECR::Repository").collect();
    assert_eq!(
        repositories.len(),
        1,
        "infra/ must define exactly one ECR repository"
    );
    for (t, name, props) in repositories {
        infra.expect(
            t,
            &format!("{name}.RepositoryName"),
            &props["RepositoryName"],
            &deploy.repository,
        );
    }
}

/// The stacks are wired by name: an import nobody exports would fail only at deploy time.
#[test]
fn every_import_has_an_export() {
    let infra = Infra::load();
    let mut imports = 0;
    for t in &infra.templates {
        let mut found = Vec::new();
        find_key(&t.doc, "Fn::ImportValue", "", &mut found);
        for (at, arg) in found {
            imports += 1;
            let name = infra
                .resolve_sub(t, arg)
                .unwrap_or_else(|e| panic!("{}: {at}: {e}", t.file));
            assert!(
                infra.exports.contains_key(&name),
                "{}: {at} imports `{name}`, which no template in infra/ exports (exports: {:?})",
                t.file,
                infra.exports.keys().collect::<Vec<_>>()
            );
        }
    }
    assert!(
        imports > 0,
        "the stacks are expected to be wired with Fn::ImportValue"
    );
}

/// ECS sends SIGKILL `stopTimeout` after SIGTERM: the app's drain must fit inside it.
#[test]
fn containers_get_time_to_drain() {
    let infra = Infra::load();
    let default_drain = hello_service::config::DEFAULT_SHUTDOWN_TIMEOUT_SECS.to_string();
    for (t, name, props) in infra.resources("AWS::ECS::TaskDefinition") {
        for c in props["ContainerDefinitions"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let number = |at: &str, v: &Value| -> u64 {
                let s = infra
                    .resolve(t, v)
                    .unwrap_or_else(|e| panic!("{}: {name} {at}: {e}", t.file));
                s.parse()
                    .unwrap_or_else(|_| panic!("{}: {name} {at} is `{s}`, not seconds", t.file))
            };
            let stop = number("StopTimeout", &c["StopTimeout"]);
            let drain_value = c["Environment"]
                .as_sequence()
                .into_iter()
                .flatten()
                .find(|e| e["Name"].as_str() == Some("SHUTDOWN_TIMEOUT_SECS"))
                .map(|e| e["Value"].clone())
                .unwrap_or(Value::String(default_drain.clone()));
            let drain = number("SHUTDOWN_TIMEOUT_SECS", &drain_value);
            assert!(
                stop > drain,
                "{}: {name}: StopTimeout {stop} s must exceed the drain time SHUTDOWN_TIMEOUT_SECS {drain} s",
                t.file
            );
        }
    }
}

/// The image's binary path (shared with the Docker-less image builder) is where the Dockerfile
/// puts the binary, what the image runs, and what both health checks call.
#[test]
fn the_binary_path_is_the_same_everywhere() {
    const BINARY: &str = "/usr/local/bin/hello-service";
    // One instruction a line: continuation lines joined.
    let dockerfile = read("Dockerfile").replace("\\\n", " ");
    let instruction = |prefix: &str| -> &str {
        dockerfile
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("the Dockerfile has no `{prefix}` instruction"))
    };
    // Exec form: the JSON array after `keyword`.
    let exec_form = |line: &str, keyword: &str| -> Vec<String> {
        let at = line
            .find(&format!("{keyword} ["))
            .unwrap_or_else(|| panic!("not in exec form: {line}"));
        serde_norway::from_str(&line[at + keyword.len()..])
            .unwrap_or_else(|e| panic!("not a JSON array ({e}): {line}"))
    };
    let copy = instruction("COPY --from=builder");
    assert_eq!(
        copy.split_whitespace().last(),
        Some(BINARY),
        "Dockerfile: {copy}"
    );
    let entrypoint = exec_form(instruction("ENTRYPOINT"), "ENTRYPOINT");
    assert_eq!(entrypoint, [BINARY], "Dockerfile ENTRYPOINT");
    let healthcheck = exec_form(instruction("HEALTHCHECK"), "CMD");
    assert_eq!(
        healthcheck,
        [BINARY, "healthcheck"],
        "Dockerfile HEALTHCHECK"
    );

    let infra = Infra::load();
    let mut checked = 0;
    for (t, name, props) in infra.resources("AWS::ECS::TaskDefinition") {
        for c in props["ContainerDefinitions"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let command: Vec<String> = c["HealthCheck"]["Command"]
                .as_sequence()
                .unwrap_or_else(|| {
                    panic!(
                        "{}: {name}: a container without a HealthCheck command",
                        t.file
                    )
                })
                .iter()
                .map(|v| {
                    infra
                        .resolve(t, v)
                        .unwrap_or_else(|e| panic!("{}: {name}: {e}", t.file))
                })
                .collect();
            assert_eq!(
                command,
                ["CMD", BINARY, "healthcheck"],
                "{}: {name} HealthCheck",
                t.file
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no container definitions in infra/");
}

/// The pipeline builds what the deploy runs: buildspec.yml's image takes deploy.toml's port,
/// is pushed to the repository the CodeBuild project names (infra's, deploy.toml's), with the
/// workspace's Rust; and the project needs no privileged mode (no Docker daemon).
#[test]
fn the_pipeline_builds_the_port_and_repository_deploy_toml_names() {
    let deploy = deploy_toml();
    let spec: Value =
        serde_norway::from_str(&read("buildspec.yml")).expect("buildspec.yml is YAML");
    let vars = &spec["env"]["variables"];
    assert_eq!(
        vars["CONTAINER_PORT"].as_str(),
        Some(deploy.container_port.to_string().as_str()),
        "buildspec.yml CONTAINER_PORT differs from deploy.toml `container_port`"
    );
    let workspace: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml is TOML");
    let rust = workspace["workspace"]["package"]["rust-version"].as_str();
    assert_eq!(
        vars["RUST_VERSION"].as_str(),
        rust,
        "buildspec.yml RUST_VERSION differs from the workspace's rust-version"
    );
    let mut commands = Vec::new();
    find_key(&spec, "commands", "", &mut commands);
    let images: Vec<&str> = commands
        .iter()
        .flat_map(|(_, list)| list.as_sequence().into_iter().flatten())
        .filter_map(Value::as_str)
        .filter(|c| c.contains("cargo xtask image") && c.contains("--push"))
        .collect();
    assert_eq!(images.len(), 1, "one command builds and pushes the image");
    assert!(
        images[0].contains("--port \"$CONTAINER_PORT\"")
            && images[0].contains("--push \"$REPOSITORY_URI:$IMAGE_TAG\""),
        "the image must take $CONTAINER_PORT and go to $REPOSITORY_URI: {}",
        images[0]
    );

    let infra = Infra::load();
    let projects: Vec<_> = infra.resources("AWS::CodeBuild::Project").collect();
    assert_eq!(
        projects.len(),
        1,
        "infra/ must define one CodeBuild project"
    );
    let (t, name, props) = &projects[0];
    let environment = &props["Environment"];
    assert_ne!(
        environment.get("PrivilegedMode").and_then(Value::as_bool),
        Some(true),
        "{}: {name} builds without Docker: no privileged mode",
        t.file
    );
    let uri = environment["EnvironmentVariables"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|v| v["Name"].as_str() == Some("REPOSITORY_URI"))
        .unwrap_or_else(|| panic!("{}: {name} sets no REPOSITORY_URI", t.file));
    // REPOSITORY_URI is an import of a repository's RepositoryUri: that repository's name.
    let import = uri["Value"]
        .get("Fn::ImportValue")
        .unwrap_or_else(|| panic!("{}: REPOSITORY_URI is not imported", t.file));
    let export = infra.resolve_sub(t, import).expect("the import's name");
    let (i, value) = infra.exports.get(&export).expect("the import is exported");
    let exporter = &infra.templates[*i];
    let attribute = value["Fn::GetAtt"].as_str().unwrap_or_default();
    let (resource, attr) = attribute.split_once('.').unwrap_or_default();
    assert_eq!(attr, "RepositoryUri", "{export} is not a repository's URI");
    let repository = &exporter.doc["Resources"][resource];
    let repository_name = infra
        .resource_name(exporter, resource, repository, "Ref")
        .expect("the repository's name");
    assert_eq!(
        repository_name, deploy.repository,
        "the pipeline pushes to {repository_name}, deploy.toml deploys from {}",
        deploy.repository
    );
}

/// BLUE_GREEN, LINEAR and CANARY (infra/04-service.yaml): ECS alternates the service between
/// two target groups and rewrites the weights of the two rules its advancedConfiguration names.
/// Both groups must be configured alike (either serves production in turn), both rules must
/// forward primary 100 / alternate 0, on listeners of their own ports, and the role ECS gets
/// must be one it can assume.
#[test]
fn traffic_shifting_alternates_between_alike_target_groups() {
    let infra = Infra::load();
    let groups: Vec<_> = infra
        .resources("AWS::ElasticLoadBalancingV2::TargetGroup")
        .collect();
    assert_eq!(groups.len(), 2, "a primary and an alternate target group");
    assert_eq!(
        groups[0].2, groups[1].2,
        "{} and {} must be configured alike (port, health check, deregistration delay)",
        groups[0].1, groups[1].1
    );

    let (t, service, props) = infra
        .resources("AWS::ECS::Service")
        .next()
        .expect("a service");
    let lb = &props["LoadBalancers"][0];
    let primary = lb["TargetGroupArn"]["Ref"]
        .as_str()
        .expect("primary target group Ref");
    // `!If [ShiftsTraffic, {…}, !Ref AWS::NoValue]`
    let advanced = &lb["AdvancedConfiguration"]["Fn::If"][1];
    let reference = |key: &str| -> &str {
        advanced[key]["Ref"].as_str().unwrap_or_else(|| {
            panic!(
                "{}: {service} AdvancedConfiguration.{key} is not a Ref",
                t.file
            )
        })
    };
    let alternate = reference("AlternateTargetGroupArn");
    assert_ne!(
        primary, alternate,
        "{}: the alternate is the primary",
        t.file
    );

    let mut listeners = Vec::new();
    for key in ["ProductionListenerRule", "TestListenerRule"] {
        let rule = &t.doc["Resources"][reference(key)];
        assert_eq!(
            rule["Type"].as_str(),
            Some("AWS::ElasticLoadBalancingV2::ListenerRule")
        );
        let actions = &rule["Properties"]["Actions"];
        let actions = actions
            .get("Fn::If")
            .map_or(actions, |branches| &branches[1]);
        let forwards: Vec<(&str, u64)> = actions[0]["ForwardConfig"]["TargetGroups"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{}: {key} has no weighted forward", t.file))
            .iter()
            .map(|g| {
                let arn = g["TargetGroupArn"]["Ref"].as_str().unwrap_or("?");
                (arn, g["Weight"].as_u64().unwrap_or(u64::MAX))
            })
            .collect();
        assert_eq!(
            forwards,
            [(primary, 100), (alternate, 0)],
            "{}: {key}",
            t.file
        );
        listeners.push(show(&rule["Properties"]["ListenerArn"]));
    }
    assert_ne!(
        listeners[0], listeners[1],
        "test and production rules share a listener"
    );

    // Every listener on its own port: the test listener must not shadow production's.
    let mut ports = Vec::new();
    for (t, name, props) in infra.resources("AWS::ElasticLoadBalancingV2::Listener") {
        let port = infra
            .resolve(t, &props["Port"])
            .unwrap_or_else(|e| panic!("{}: {name}.Port: {e}", t.file));
        assert!(
            !ports.contains(&port),
            "{}: {name} reuses port {port}",
            t.file
        );
        ports.push(port);
    }
    assert_eq!(
        ports.len(),
        2,
        "a production and a test listener: {ports:?}"
    );

    let role = advanced["RoleArn"]["Fn::GetAtt"].as_str().unwrap_or("");
    let role = role
        .strip_suffix(".Arn")
        .expect("RoleArn is a role's GetAtt Arn");
    let trust = &t.doc["Resources"][role]["Properties"]["AssumeRolePolicyDocument"];
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"].as_str(),
        Some("ecs.amazonaws.com"),
        "{}: {role} must trust ECS",
        t.file
    );
}
