/**
 * The schema of one alert rule, apart from the rest of `alerts` so that the built-in
 * rules (`defaults.ts`) and the section's schema (`schema.ts`) can both use it.
 */
import { Type, type Static } from '../config/type-builder.js';
import { Duration, Strict } from '../config/schema-kit.js';

export const NAME = '^[A-Za-z0-9_.:-]+$';
export const LABEL_NAME = '^[A-Za-z_][A-Za-z0-9_]*$';

export const Labels = (description: string) => Type.Record(Type.String({ pattern: LABEL_NAME }), Type.String(), { description });

export const Severity = Type.Union([Type.Literal('critical'), Type.Literal('warning'), Type.Literal('info')], { description: '`critical`, `warning` or `info`.' });

export const Action = Strict(
  {
    command: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description:
          'A program and its arguments, run without a shell (`["/usr/local/bin/page-oncall", "--team", "shop"]`). The alert is in its environment: BRISK_ALERT_RULE, BRISK_ALERT_STATE (firing or resolved), BRISK_ALERT_SEVERITY, BRISK_ALERT_VALUE, BRISK_ALERT_SUMMARY, BRISK_ALERT_LABELS (JSON) and BRISK_ALERT_LABEL_<NAME> per label. Its output is logged.',
      }),
    ),
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String(), { description: 'Extra environment variables for `command`.' })),
    webhook: Type.Optional(Type.String({ pattern: '^https?://', description: 'A URL that gets a JSON POST with the alert (the same body as a `webhook` receiver). Not retried: use a receiver for guaranteed delivery.' })),
    headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Extra request headers for `webhook` (e.g. `authorization`).' })),
    restart: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_.-]+$',
        description:
          'A service Brisk runs (`services.NAME`) to restart: the instance the alert is about (its `target` label) when it is one of the service\'s, else every instance, one after the other (a rolling restart, each drained first).',
      }),
    ),
    scale: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+$', description: 'A service Brisk runs to scale, by `by` instances or to `to`, within its `instances.min`..`max`; its autoscaler may change the count again later.' })),
    by: Type.Optional(Type.Integer({ minimum: -256, maximum: 256, description: 'With `scale`: instances to add (`+1`) or remove (`-1`).' })),
    to: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'With `scale`: the number of instances to run.' })),
    timeout: Type.Optional(Duration('Longest run of the command, or wait for the webhook; the command is killed past it.', '10s')),
    onResolve: Type.Optional(Type.Boolean({ default: false, description: 'Also run when the alert resolves (firing runs always).' })),
    minInterval: Type.Optional(Duration('Runs at most once per this interval per alert instance, so a flapping alert cannot storm.', '5m')),
  },
  'Something to do when the rule fires: exactly one of `command`, `webhook`, `restart` or `scale`.',
);

export const Rule = Strict(
  {
    name: Type.String({ pattern: NAME, description: 'Unique name of the rule. A rule named like a default rule overrides it key by key (`enabled: false` turns it off).' }),
    expr: Type.Optional(Type.String({ minLength: 1, description: 'The condition, in the expression language of docs/alerting.md: `error_ratio(route="checkout", window="5m") > 5%`. Required unless the rule overrides a default rule.' })),
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'Set `false` to turn the rule (or the default rule of this name) off.' })),
    for: Type.Optional(Duration('How long the condition must hold before the alert fires (it is `pending` meanwhile).', '0')),
    keepFiringFor: Type.Optional(Duration('How long the condition must stay false before a firing alert resolves (against flapping).', '0')),
    resolveThreshold: Type.Optional(
      Type.Union([Type.Number(), Type.String({ minLength: 1 })], {
        description: 'Hysteresis: a firing alert resolves only once the value is past this threshold (`2%` for a rule that fires above `5%`), written in the unit of the expression\'s metric.',
      }),
    ),
    severity: Type.Optional(Type.Union([Type.Literal('critical'), Type.Literal('warning'), Type.Literal('info')], { default: 'warning', description: '`critical`, `warning` or `info`; routes pick receivers by it.' })),
    labels: Type.Optional(Labels('Labels added to every alert of the rule (`team: shop`); routes and silences match them.')),
    summary: Type.Optional(
      Type.String({ minLength: 1, description: 'One line about the alert. Placeholders: `{{labels.NAME}}`, `{{value}}`, `{{threshold}}`, `{{rule}}`, `{{severity}}`.' }),
    ),
    message: Type.Optional(Type.String({ minLength: 1, description: 'Longer text under the summary, same placeholders.' })),
    groupBy: Type.Optional(
      Type.Array(Type.String({ pattern: LABEL_NAME }), { description: 'Alerts of this rule with the same values of these labels are sent in one notification. Default: none (one notification per rule and change).' }),
    ),
    repeatInterval: Type.Optional(Duration('Send again while still firing after this long; `0` never repeats. Overrides `alerts.repeatInterval`.')),
    actions: Type.Optional(Type.Array(Action, { description: 'Commands, webhooks, restarts or scalings of a service, run when an alert of the rule fires (and resolves, with `onResolve`).' })),
  },
  'An alert rule.',
);

/** A rule as written in the file. */
export type RawAlertRule = Static<typeof Rule>;
