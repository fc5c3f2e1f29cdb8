//! Every flag and subcommand, defined once; help text comes from these doc comments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "tug",
    version,
    about = "Operate self-hosted service stacks: check, run, back up, restore, migrate, watch",
    long_about = None,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes, listed apart from its own.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Use the environment NAME from tugboat.yml (adds its compose override files)
    #[arg(long = "env", global = true, value_name = "NAME")]
    pub environment: Option<String>,
    /// The state database (default: .tugboat/state.db beside tugboat.yml)
    #[arg(long, global = true, env = "TUGBOAT_STATE", hide_env_values = true, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Print one JSON document instead of human output
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a stack for hardening, network exposure and secret handling
    Check(CheckArgs),
    /// Print the resolved stack (files merged, variables interpolated, long syntax), like `docker compose config`
    Config(ConfigArgs),
    /// Write a commented tugboat.yml for an existing compose project
    Init(InitArgs),
    /// Show how two environments of a stack differ
    DiffEnv(DiffEnvArgs),
    /// Compare two databases (tables, columns, rows) or two search clusters (indices, mappings, documents)
    Parity(ParityArgs),
    /// Copy a database to another server (dump -> restore, streamed), then prove parity
    Migrate(MigrateArgs),
    /// Back up the stack's sources (databases, files, volumes, config) into its restic-compatible repository
    Backup(BackupArgs),
    /// Restore a source from a snapshot (a database into a server, files to a path)
    Restore(RestoreArgs),
    /// Restore the latest snapshots into scratch servers, prove them, and measure the recovery time
    Drill(DrillArgs),
    /// Run a suite of checks from tugboat.yml once (HTTP, TCP, TLS, DNS, SQL, container, host, GPU)
    Smoke(SmokeArgs),
    /// Run the checks on their intervals, raise alerts, serve a status page and /metrics
    Watch(WatchArgs),
    /// Start the stack through the Docker Engine: networks, volumes, images, then containers in
    /// depends_on order (health-gated); unchanged containers are left running
    Up(UpArgs),
    /// Stop and remove the stack's containers and networks (volumes with --volumes)
    Down(DownArgs),
    /// Compare the running stack with its files: missing, orphaned, changed image or config,
    /// unhealthy, restarting or stopped containers; exit 1 on drift
    Status(StatusArgs),
    /// Show the stack's container logs, merged by time and prefixed `service-N |`; secrets masked
    Logs(LogsArgs),
    /// Host preflight for the stack: engine, Compose, cgroups, kernel, forwarding, space, mounts, GPU,
    /// ports, memory, backup repository; exit 1 on any failed check
    Doctor(DoctorArgs),
    /// Vulnerabilities of the stack's images against an OSV database carried in (never the network):
    /// SBOM, findings with their fixes, SARIF, a --fail-on gate
    Scan(ScanArgs),
    /// The blue-green reverse proxy in front of the stack (`proxy:` in tugboat.yml); runs until stopped
    Proxy(ProxyArgs),
    /// Blue-green deploy of a service through tug proxy: green beside blue, health gate, switch, drain,
    /// watch; rolls back on its own when green fails
    Deploy(DeployArgs),
    /// Return a service to the version its last deploy replaced
    Rollback(RollbackArgs),
    /// Write the stack as Kubernetes manifests: a Kustomize base and overlays, hardened, with a conversion report
    #[command(subcommand)]
    Export(ExportCommand),
    /// Cutover plans (plans/NAME.yml): gated, resumable runbooks with approvals and rollback
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Record a person's approval of a plan step (a human gate), in the plan's current run
    Approve(ApproveArgs),
    /// Read and verify the tamper-evident audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print a shell completion script (bash: `source <(tug completions bash)`)
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `tug man | man -l -`
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Only these services (and what they depend on); all active services when none are given
    pub services: Vec<String>,
    /// Don't start the services the given ones depend on
    #[arg(long)]
    pub no_deps: bool,
    /// Build the images of `build:` services even when they exist
    #[arg(long)]
    pub build: bool,
    /// Pull images: always, missing (the default: only absent ones) or never (overrides pull_policy)
    #[arg(long, value_enum, value_name = "POLICY")]
    pub pull: Option<PullArg>,
    /// Recreate containers even when their configuration and image are unchanged
    #[arg(long)]
    pub force_recreate: bool,
    /// Remove containers of services no longer defined in the compose files
    #[arg(long)]
    pub remove_orphans: bool,
    /// Wait until every service is running (healthy when it has a health check)
    #[arg(long)]
    pub wait: bool,
    /// How long one wait may take: a dependency's condition, or --wait (e.g. 90s, 5m)
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: String,
    /// Print the plan (what would be created, recreated, left alone) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PullArg {
    Always,
    Missing,
    Never,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the stack's named volumes (its data)
    #[arg(long, short = 'v')]
    pub volumes: bool,
    /// Also remove containers of services no longer defined in the compose files
    #[arg(long)]
    pub remove_orphans: bool,
    /// Print the plan (what would be stopped and removed) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Print the resolved proxy configuration and exit
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The service (it needs `deploy.SERVICE` in tugboat.yml)
    pub service: String,
    /// The image to deploy, as CI publishes it (default: the service's image in the compose files)
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// Print the plan (blue, green, health gate, switch, watch) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The service to roll back
    pub service: String,
    /// Print the plan and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only these services' containers (all when none are given)
    pub services: Vec<String>,
    /// Keep reading: print lines as they are written, until Ctrl-C
    #[arg(short, long)]
    pub follow: bool,
    /// Lines from this time on: an RFC 3339 time, a date, or a duration back from now (10m, 2h, 7d)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Lines up to this time (same forms as --since)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only lines matching this regular expression (matched after secrets are masked)
    #[arg(long, value_name = "REGEX")]
    pub grep: Option<String>,
    /// The last N lines of each container
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<u64>,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write tug.1 and a page per subcommand (tug-backup.1, tug-backup-forget.1, …) into DIR instead
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// Sources to back up (names from backup.sources); all when none are given
    pub sources: Vec<String>,
    /// Print the plan (what would be done, resolved) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Create the repository named in tugboat.yml
    Init(RepoInitArgs),
    /// List snapshots (of one source, or all)
    Snapshots(SnapshotsArgs),
    /// Apply the keep policy: show what is kept and why, and remove the rest
    Forget(ForgetArgs),
    /// Verify the repository's structure, and with --read-data its content
    Check(CheckRepoArgs),
}

#[derive(Debug, Args)]
pub struct RepoInitArgs {
    /// Print the plan (what would be done, resolved) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Only this source's snapshots (a name from backup.sources)
    pub source: Option<String>,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Also remove the data no snapshot uses any more
    #[arg(long)]
    pub prune: bool,
    /// Print the plan (what would be done, resolved) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckRepoArgs {
    /// Read and verify every data pack
    #[arg(long, conflicts_with = "read_data_subset")]
    pub read_data: bool,
    /// Read and verify this percentage of the data packs
    #[arg(long, value_name = "PERCENT")]
    pub read_data_subset: Option<f64>,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The source to restore (a name from backup.sources)
    pub source: String,
    /// The snapshot (default: the latest of this source)
    #[arg(long)]
    pub snapshot: Option<String>,
    /// Where to: a database URL or name, `scratch`, or a directory for file sources (default: where it came from)
    #[arg(long)]
    pub to: Option<String>,
    /// Overwrite a target that already holds data
    #[arg(long)]
    pub force: bool,
    /// Print the plan (what would be done, resolved) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// The suite under `checks:` (default `smoke`, or the only suite)
    pub suite: Option<String>,
    /// How many checks run at once
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Print the plan (what would be done, resolved) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Address of the status page and /metrics (default: watch.listen, else 127.0.0.1:9925)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Log lines as text or JSON
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Validate the configuration and print what would run (checks, alert rules, providers, schedules)
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Sources to drill; all when none are given
    pub sources: Vec<String>,
    /// Also compare live and restored row by row
    #[arg(long)]
    pub deep: bool,
    /// Drill this snapshot instead of each source's latest
    #[arg(long)]
    pub snapshot: Option<String>,
    /// Print the plan (what would be done, resolved) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ParityArgs {
    /// Source: a database name from tugboat.yml or a URL (mysql://, postgres://, or http(s):// for Elasticsearch/OpenSearch)
    pub source: String,
    /// Target: a database name from tugboat.yml or a URL
    pub target: String,
    #[command(flatten)]
    pub compare: CompareArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The stack directory whose tugboat.yml names the databases
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Only these tables (comma-separated, `*` wildcards)
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Skip these tables (comma-separated, `*` wildcards)
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// A SQL condition applied on both sides, e.g. to leave out rows still being written
    #[arg(long = "where", value_name = "SQL")]
    pub where_clause: Option<String>,
    /// Compare row counts only
    #[arg(long)]
    pub counts_only: bool,
    /// How many keys to list per kind of difference
    #[arg(long, default_value_t = 20)]
    pub max_keys: usize,
    /// Search clusters: documents per index whose _source is compared (0: counts and mappings only)
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub sample: usize,
    /// Search clusters over https: PEM file of the CA to trust (Elasticsearch 8: config/certs/http_ca.crt)
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Source: a database name from tugboat.yml or a URL
    pub source: String,
    /// Target: a database name, a URL, or `scratch` for a rehearsal into a throwaway server
    pub target: String,
    /// Drop and recreate a target that already holds tables
    #[arg(long)]
    pub replace: bool,
    /// Print the plan (what would be done, resolved) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub compare: CompareArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ScanArgs {
    #[command(subcommand)]
    pub command: Option<ScanCommand>,
    /// Only these services' images (all when none are given)
    pub services: Vec<String>,
    /// Scan this image (as the engine names it) instead of the stack's; repeatable
    #[arg(long = "image", value_name = "REF")]
    pub images: Vec<String>,
    /// Output format (`--json` is the same as `--format json`)
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Exit 1 when a finding at or above this severity is not ignored (default: no gate)
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<ScanFailOn>,
    /// Only findings that a released version fixes
    #[arg(long)]
    pub fixable_only: bool,
    /// Print each image's SBOM (CycloneDX 1.5 JSON) instead of findings; needs no database
    #[arg(long)]
    pub sbom: bool,
    /// Exit 3 when the vulnerability database is older than DAYS (it warns after 7)
    #[arg(long, value_name = "DAYS")]
    pub max_db_age: Option<u64>,
    /// Print the plan (images, database) and scan nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum ScanFailOn {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Subcommand)]
pub enum ScanCommand {
    /// The offline vulnerability database (.tugboat/osv.db)
    #[command(subcommand)]
    Db(ScanDbCommand),
}

#[derive(Debug, Subcommand)]
pub enum ScanDbCommand {
    /// Import OSV records: all.zip archives (one per ecosystem) or directories of OSV JSON files
    Import(ScanDbImportArgs),
    /// What the database holds: ecosystems, records, imports, age
    Status(ScanDbStatusArgs),
}

#[derive(Debug, Args)]
pub struct ScanDbImportArgs {
    /// all.zip archives or directories of OSV JSON records
    #[arg(required = true, value_name = "FILE|DIR")]
    pub sources: Vec<PathBuf>,
    /// The SHA-256 the (single) source must have; a mismatch imports nothing
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Print the plan and import nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory (the database is its .tugboat/osv.db)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ScanDbStatusArgs {
    /// The stack's directory (the database is its .tugboat/osv.db)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Low,
    Medium,
    High,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The stack directory (with tugboat.yml or a compose file), or Kubernetes manifests: a YAML file, a directory of them, or a kustomization
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Output format (`--json` is the same as `--format json`)
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// The lowest severity that makes the exit code 1
    #[arg(long, value_enum, default_value_t = FailOn::Low)]
    pub fail_on: FailOn,
    /// List the rules and exit
    #[arg(long)]
    pub list_rules: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConfigFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The stack directory (with tugboat.yml or a compose file)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Output format (`--json` is the same as `--format json`)
    #[arg(long, value_enum, default_value_t = ConfigFormat::Yaml)]
    pub format: ConfigFormat,
    /// Print secret values instead of `***`
    #[arg(long)]
    pub show_secrets: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The compose project's directory
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite an existing tugboat.yml
    #[arg(long)]
    pub force: bool,
    /// Print the plan (what would be done, resolved) and change nothing; with --json, the plan document
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DiffEnvArgs {
    /// First environment (`base` for no environment)
    pub a: String,
    /// Second environment
    pub b: String,
    /// The stack's directory (tugboat.yml and its compose files)
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit events
    Log(AuditLogArgs),
    /// Recompute the hash chain; exit 1 naming the first broken event
    Verify(AuditDirArgs),
}

#[derive(Debug, Args)]
pub struct AuditLogArgs {
    /// The stack's directory (its state database holds the log)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Only events since a duration ago (`24h`, `7d`) or an RFC 3339 time or date (`2026-11-01`)
    #[arg(long)]
    pub since: Option<String>,
    /// Only the events of this cutover plan's runs (its steps, approvals, rollbacks)
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuditDirArgs {
    /// The stack's directory (its state database holds the log)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Validate a plan and show each step, each gate's evidence and what would run next (no NAME: list plans)
    Show(PlanShowArgs),
    /// Run the plan from where it stands until done, a gate blocks, an approval is needed or a window is open
    Run(PlanRunArgs),
    /// Record the outcome of a step that was interrupted and cannot safely run twice
    Resolve(PlanResolveArgs),
    /// Undo the run's succeeded steps (newest first), then run the plan's rollback section
    Rollback(PlanNameArgs),
    /// Render the cutover record of a run: what was done, when, by whom, with the evidence (HTML or Markdown)
    Report(PlanReportArgs),
}

#[derive(Debug, Args)]
pub struct PlanShowArgs {
    /// The plan (plans/NAME.yml beside tugboat.yml)
    pub name: Option<String>,
    /// The stack's directory
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct PlanRunArgs {
    /// The plan (plans/NAME.yml beside tugboat.yml)
    pub name: String,
    /// Start a new run when the last one is finished (done or rolled back)
    #[arg(long)]
    pub new: bool,
    /// Print where the plan stands and what would run next; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct PlanResolveArgs {
    /// The plan
    pub name: String,
    /// The interrupted step
    pub step: String,
    /// It did what it should: the plan moves on
    #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
    pub succeeded: bool,
    /// It did not: the next `tug plan run` runs it again
    #[arg(long)]
    pub failed: bool,
    /// What was checked
    #[arg(long)]
    pub note: Option<String>,
    /// Print what would be recorded; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct PlanNameArgs {
    /// The plan
    pub name: String,
    /// Print what would be undone; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Html,
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanReportArgs {
    /// The plan
    pub name: String,
    /// The run (default: the newest)
    #[arg(long)]
    pub run: Option<i64>,
    /// HTML (one self-contained file) or Markdown (for a wiki or a repository)
    #[arg(long, value_enum, default_value = "html")]
    pub format: ReportFormat,
    /// Write to this file (default: standard output)
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The stack's directory
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The plan
    pub name: String,
    /// The step approved (an `approve` step, or any step with an `approved_by` gate)
    pub step: String,
    /// Who approves (shown in every later report)
    #[arg(long = "as", value_name = "PERSON")]
    pub person: String,
    /// What the approval covers ("writes frozen on the old host at 14:02")
    #[arg(long)]
    pub note: Option<String>,
    /// Print what would be recorded; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The stack's directory
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Kustomize base/ and overlays/{dev,staging,production}/ (configurable under `kubernetes:`), one file per object
    K8s(ExportK8sArgs),
}

#[derive(Debug, Args)]
pub struct ExportK8sArgs {
    /// The stack's directory
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where to write (default: k8s/ beside tugboat.yml)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The workloads' namespace (default: kubernetes.namespace, else the stack's name)
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Write into a non-empty directory that tug export did not write
    #[arg(long)]
    pub force: bool,
    /// Print the files and the conversion report; write nothing
    #[arg(long)]
    pub dry_run: bool,
}
