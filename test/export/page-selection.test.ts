import { describe, expect, it } from 'vitest';
import { pageHtml } from '../../src/export/page/template.js';
import type { SelectionSummary } from '../../src/report/types.js';

describe('exported page: why this score', () => {
  const sel: SelectionSummary = {
    chosen: 'vim', rule: 'lowest objective wins', tpr: 0.95, farSets: ['blurred', 'solid'], folds: 6,
    candidates: [
      { score: 'energy', farMean: 0.767, nearMean: 0.0687, objective: 0.4179, excluded: 'no better than chance on <salt-pepper>' },
      { score: 'vim', farMean: 0.1589, nearMean: null, objective: 0.1589, excluded: null },
    ],
  };

  it('shows every candidate\'s validation numbers, marks the pick and escapes text', () => {
    const html = pageHtml('', { histogram: null, selection: sel });
    expect(html).toMatch(/<summary>Why the vim score<\/summary>/);
    expect(html).toMatch(/<td>vim \(chosen\)<\/td><td>15\.9<\/td><td>–<\/td>/);
    expect(html).toMatch(/<td>energy<\/td><td>76\.7<\/td><td>6\.9<\/td><td>41\.8<\/td>/);
    const section = html.slice(html.indexOf('<details id="score-choice"'), html.indexOf('</details>', html.indexOf('score-choice')));
    expect(section).toContain('&#60;salt-pepper&#62;');
    expect(section).not.toContain('<salt-pepper>');
    expect(html).toMatch(/6 held-out-class folds/);
  });

  it('has no such section for a run that named its score', () => {
    expect(pageHtml('', { histogram: null })).not.toMatch(/score-choice/);
  });
});
