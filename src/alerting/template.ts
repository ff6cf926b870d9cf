/**
 * `{{…}}` placeholders in rule summaries and messages. Deliberately tiny (no logic, no
 * helpers): a template is written by an operator and rendered for every notification,
 * so it must not be able to fail or run code at render time. Unknown placeholders are
 * refused at config load.
 */

/** What a summary or message can refer to. */
export interface TemplateData {
  readonly rule: string;
  readonly severity: string;
  readonly state: string;
  readonly value: string;
  readonly threshold: string;
  readonly labels: Readonly<Record<string, string>>;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g;
const FIELDS = new Set(['rule', 'severity', 'state', 'value', 'threshold']);

/**
 * Why a template is not valid, or null.
 *
 * @example
 * templateProblem('{{labels.route}} at {{vaule}}') // 'unknown placeholder {{vaule}}; …'
 */
export function templateProblem(text: string): string | null {
  for (const m of text.matchAll(PLACEHOLDER)) {
    const name = m[1]!;
    if (FIELDS.has(name) || /^labels\.[A-Za-z_][A-Za-z0-9_]*$/.test(name)) continue;
    return `unknown placeholder {{${name}}}; use {{value}}, {{threshold}}, {{rule}}, {{severity}}, {{state}} or {{labels.NAME}}`;
  }
  const open = text.indexOf('{{');
  if (open !== -1 && !/\{\{\s*[A-Za-z0-9_.]+\s*\}\}/.test(text.slice(open))) return `unclosed or empty placeholder at character ${open + 1}; write {{value}}`;
  return null;
}

/**
 * Fills the placeholders; a label the alert does not have renders as an empty string.
 *
 * @example
 * renderTemplate('{{labels.route}}: {{value}}', { …, value: '7%', labels: { route: 'checkout' } }) // 'checkout: 7%'
 */
export function renderTemplate(text: string, data: TemplateData): string {
  return text.replace(PLACEHOLDER, (_all, name: string) => {
    if (name.startsWith('labels.')) return data.labels[name.slice(7)] ?? '';
    switch (name) {
      case 'rule':
        return data.rule;
      case 'severity':
        return data.severity;
      case 'state':
        return data.state;
      case 'value':
        return data.value;
      case 'threshold':
        return data.threshold;
      default:
        return '';
    }
  });
}
