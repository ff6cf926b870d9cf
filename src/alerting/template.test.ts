import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTemplate, templateProblem } from './template.js';

describe('alert templates', () => {
  const data = { rule: 'errors', severity: 'critical', state: 'firing', value: '7%', threshold: '> 5%', labels: { route: 'checkout' } };

  it('fills labels, value, threshold, rule, severity and state; a missing label is empty', () => {
    assert.equal(renderTemplate('{{ labels.route }} fails {{value}} ({{threshold}}) [{{rule}}/{{severity}}/{{state}}] {{labels.nope}}!', data), 'checkout fails 7% (> 5%) [errors/critical/firing] !');
    assert.equal(renderTemplate('无占位符 {{value}}', data), '无占位符 7%');
  });

  it('refuses unknown and unclosed placeholders', () => {
    assert.equal(templateProblem('{{labels.route}} {{value}}'), null);
    assert.match(templateProblem('{{vaule}}')!, /unknown placeholder \{\{vaule\}\}/);
    assert.match(templateProblem('{{labels.}}')!, /unknown placeholder/);
    assert.match(templateProblem('value {{value')!, /unclosed/);
  });
});
