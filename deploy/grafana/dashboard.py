"""The vast Grafana dashboard, as code: `python deploy/grafana/dashboard.py` writes dashboards/vast.json.

The committed JSON is what Grafana provisions (provisioning/dashboards/vast.yml); a test regenerates it
and fails when the two differ, and checks every query below against a real Prometheus scraping a real
run. Panels read the recording rules of deploy/prometheus/rules/ where one exists, so the dashboard and
the alerts agree on what "throughput" or "policy lag" means. Needs grafana-foundation-sdk (the
`deploy` extra).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUT = Path(__file__).resolve().parent / "dashboards" / "vast.json"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")  # provisioning/datasources


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    description: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)


ROWS: dict[str, tuple[Panel, ...]] = {
    "Throughput": (
        Panel(
            "Environment steps/s per actor",
            "ops",
            "Steps of all environment copies of each actor.",
            (("vast:actor_env_steps:rate1m", "{{instance}}"),),
        ),
        Panel(
            "Episodes/s: played, stored, trained on",
            "ops",
            "Played by actors, accepted by replay (stored in Redis), consumed by the learner.",
            (
                ("sum(vast:actor_episodes:rate1m)", "played"),
                ("vast:replay_accepted:rate1m", "stored"),
                ("sum(rate(vast_learner_episodes_consumed_total[1m]))", "trained on"),
            ),
        ),
        Panel(
            "Learner updates/s",
            "ops",
            "Updates of the learner (each on learner.episodes_per_update episodes).",
            (("vast:learner_updates:rate1m", "updates/s"),),
        ),
        Panel(
            "Policy version: learner and actors",
            "none",
            "Published version and the version each actor plays with; the gap is how late weights arrive.",
            (
                ("max(vast_learner_policy_version)", "learner"),
                ("vast_actor_policy_version", "{{instance}}"),
            ),
        ),
    ),
    "Learning": (
        Panel(
            "Evaluation metric",
            "none",
            "Mean domain metric of the latest evaluation (learner.eval_every).",
            (("vast_eval_domain_metric", "evaluation"),),
        ),
        Panel(
            "Losses",
            "none",
            "Latest value of each loss term of the method.",
            (("vast_learner_loss", "{{part}}"),),
        ),
        Panel(
            "Sub-team statistics",
            "none",
            "VAST: distinct sub-team divisions (diversity) and sub-teams with members (subteams_active).",
            (('vast_learner_stat{name=~"diversity|subteams_active"}', "{{name}}"),),
        ),
        Panel(
            "Policy entropy and importance weights",
            "none",
            "Mean entropy of the actor's policy; async mode: mean clipped importance weight.",
            (('vast_learner_stat{name=~"entropy|importance_weight_mean"}', "{{name}}"),),
        ),
    ),
    "Flow": (
        Panel(
            "Buffer depth",
            "none",
            "Episodes accepted and waiting in Redis; replay stops acknowledging at max_backlog (back-pressure).",
            (
                ('max(vast_ledger_episodes{state="buffered"})', "depth"),
                ("vast_replay_max_backlog", "max_backlog"),
            ),
        ),
        Panel(
            "Policy lag",
            "none",
            "Versions between the policy that played an episode and the one trained on it.",
            (
                ("vast:learner_policy_lag:mean5m", "mean"),
                (
                    "histogram_quantile(0.9, sum by (le) (rate(vast_learner_policy_lag_bucket[5m])))",
                    "p90",
                ),
                ("vast:learner_stale_share:5m", "share dropped as stale"),
            ),
        ),
        Panel(
            "Rejected, dropped and held-back episodes/s",
            "ops",
            "Replay rejects (by reason), learner drops (by reason), replay back-pressure.",
            (
                ("vast:replay_rejected:rate5m", "rejected: {{reason}}"),
                ("sum by (reason) (rate(vast_learner_episodes_dropped_total[5m]))", "dropped: {{reason}}"),
                ('sum(rate(vast_replay_episodes_deferred_total{cause="backlog"}[5m]))', "back-pressure"),
            ),
        ),
        Panel(
            "Learner waiting for episodes",
            "percentunit",
            "Share of the learner's time spent waiting for data: high means more actors would help.",
            (("vast:learner_wait:ratio1m", "waiting"),),
        ),
    ),
    "Health": (
        Panel(
            "Processes up",
            "none",
            "Scrape targets up per role.",
            (('sum by (job) (up{job=~"vast-.*"})', "{{job}}"),),
        ),
        Panel(
            "Seconds since last progress",
            "s",
            "What `vast health` checks: the role's last progress (actor: acked episode; replay: Redis round "
            "trip; learner: update or read).",
            (
                (
                    'time() - {__name__=~"vast_(actor|replay|learner)_last_progress_timestamp_seconds"}',
                    "{{job}} {{instance}}",
                ),
            ),
        ),
        Panel(
            "Restarts in 15 minutes",
            "none",
            "Process restarts per role (changes of process_start_time_seconds).",
            (('sum by (job) (changes(process_start_time_seconds{job=~"vast-.*"}[15m]))', "{{job}}"),),
        ),
        Panel(
            "Redis reachable",
            "none",
            "1 when the role's last Redis call succeeded.",
            (("min by (job) (vast_redis_up)", "{{job}}"),),
        ),
        Panel(
            "Memory (resident)",
            "bytes",
            "Resident memory of each process.",
            (('process_resident_memory_bytes{job=~"vast-.*"}', "{{job}} {{instance}}"),),
        ),
        Panel(
            "CPU (cores)",
            "none",
            "CPU time per second of each process.",
            (('rate(process_cpu_seconds_total{job=~"vast-.*"}[1m])', "{{job}} {{instance}}"),),
        ),
    ),
}


def build() -> dashboard.Dashboard:
    board = (
        dashboard.Dashboard("vast")
        .uid("vast")
        .description("A vast training run: throughput, learning, data flow and process health.")
        .tags(["vast"])
        .refresh("10s")
        .time("now-30m", "now")
        .timezone("browser")
    )
    for row, panels in ROWS.items():
        board = board.with_row(dashboard.Row(row))
        for panel in panels:
            built = (
                timeseries.Panel()
                .title(panel.title)
                .description(panel.description)
                .unit(panel.unit)
                .datasource(DATASOURCE)
                .height(8)
                .span(6)
            )
            for ref, (expr, legend) in zip("ABCDEFGH", panel.queries):
                built = built.with_target(
                    prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)
                )
            board = board.with_panel(built)
    return board


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)
