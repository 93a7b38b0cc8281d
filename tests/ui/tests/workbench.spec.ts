import AxeBuilder from '@axe-core/playwright';
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

import { cellText, openNewNotebook } from './notebook';
import {
  docScreenshot,
  openFromSidebar,
  openView,
  SIDEBAR,
  viewTab,
  ViewKind
} from './views';

const KINDS: ViewKind[] = ['experiments', 'runs', 'registry'];
const LABELS: Record<ViewKind, string> = {
  experiments: 'Experiments',
  runs: 'Runs',
  registry: 'Registry'
};

/** The main area's tabs titled `label`. */
function tabsNamed(page: IJupyterLabPageFixture, label: string): Locator {
  return page.locator('#jp-main-dock-panel .lm-TabBar-tab', {
    has: page.locator('.lm-TabBar-tabLabel', {
      hasText: new RegExp(`^${label}$`)
    })
  });
}

/** Run `label` from the command palette, as a person types it. */
async function fromPalette(
  page: IJupyterLabPageFixture,
  label: string
): Promise<void> {
  await page.keyboard.press('Control+Shift+C');
  const palette = page.locator('#modal-command-palette');
  await expect(palette).toBeVisible();
  await palette.locator('input').fill(label);
  await palette
    .locator('.lm-CommandPalette-item', {
      has: page.locator('.lm-CommandPalette-itemLabel', {
        hasText: new RegExp(`^${label}$`)
      })
    })
    .first()
    .click();
}

/** The id of experiment `name` in the root project (seeded by jupyter_server_test_config.py). */
async function experimentId(
  page: IJupyterLabPageFixture,
  baseURL: string | undefined,
  name: string
): Promise<string> {
  const reply = await (
    await page.request.get(`${baseURL}/nblift/api/experiments`)
  ).json();
  const found = reply.experiments.find(
    (e: { name: string }) => e.name === name
  );
  expect(found, `experiment ${name} is seeded`).toBeTruthy();
  return found.id;
}

test.use({ viewport: { width: 1280, height: 800 } });

test.describe('nblift workbench', () => {
  test('each view opens in the main area from the sidebar, the palette and the launcher, one tab each', async ({
    page
  }) => {
    for (const kind of KINDS) {
      const tab = await openFromSidebar(page, kind);
      await expect(
        tab.getByRole('region', { name: kind, exact: true })
      ).toBeVisible();
      await expect(tabsNamed(page, LABELS[kind])).toHaveCount(1);
    }
    // Opening again brings the existing tab forward instead of a second one.
    for (const kind of KINDS) {
      await fromPalette(page, `Open ${LABELS[kind]}`);
      await expect(viewTab(page, kind)).toBeVisible();
      await expect(tabsNamed(page, LABELS[kind])).toHaveCount(1);
      await expect(
        tabsNamed(page, LABELS[kind]).and(page.locator('.lm-mod-current'))
      ).toHaveCount(1);
    }
    // Every action has a palette entry.
    await page.keyboard.press('Control+Shift+C');
    const palette = page.locator('#modal-command-palette');
    await palette.locator('input').fill('nblift');
    const items = palette.locator('.lm-CommandPalette-itemLabel');
    for (const label of [
      'Snapshot now',
      'Restore…',
      'Run notebook on…',
      'Open Experiments',
      'Open Runs',
      'Open Registry',
      'Show nblift'
    ]) {
      await expect(
        items.filter({ hasText: new RegExp(`^${label}$`) })
      ).toHaveCount(1);
    }
    await page.keyboard.press('Escape');

    // The launcher has an nblift section with a card per view.
    await page.evaluate(async () => {
      await (window as any).jupyterapp.commands.execute('launcher:create');
    });
    const section = page.locator('.jp-Launcher:visible .jp-Launcher-section', {
      has: page.locator('.jp-Launcher-sectionTitle', { hasText: /^nblift$/ })
    });
    await expect(section.locator('.jp-LauncherCard')).toHaveText([
      'Experiments',
      'Runs',
      'Registry'
    ]);
    await page.sidebar.close();
    await section
      .locator('.jp-LauncherCard', { hasText: 'Registry' })
      .first()
      .click();
    await expect(viewTab(page, 'registry')).toBeVisible();
    await expect(tabsNamed(page, 'Registry')).toHaveCount(1);
    // An empty view says what to do next.
    await expect(viewTab(page, 'registry')).toContainText(
      '%lift register in a notebook registers one'
    );
  });

  test('the workspace restores the open views after a reload', async ({
    page
  }) => {
    // The layout goes into the workspace (saved on the server) as the tabs open.
    const saved = page.waitForRequest(
      request =>
        request.method() === 'PUT' &&
        request.url().includes('/api/workspaces') &&
        (request.postData() ?? '').includes('nblift-workbench:registry') &&
        (request.postData() ?? '').includes('nblift-workbench:experiments')
    );
    await openView(page, 'experiments');
    await openView(page, 'registry');
    await expect(tabsNamed(page, 'Experiments')).toHaveCount(1);
    await saved;
    // (Galata's reload waits for a launcher by default; the restored workspace shows the views instead.)
    await page.reload({ waitForIsReady: false });
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    await expect(tabsNamed(page, 'Experiments')).toHaveCount(1);
    await expect(tabsNamed(page, 'Registry')).toHaveCount(1);
    await expect(tabsNamed(page, 'Runs')).toHaveCount(0);
    // The restored tab works: its experiments are listed.
    await tabsNamed(page, 'Experiments').click();
    await expect(
      viewTab(page, 'experiments').getByRole('combobox', { name: 'Experiment' })
    ).toBeVisible();
  });

  test('three runs compared: curves for series, bars for scalars, the parameter diff', async ({
    page,
    baseURL
  }) => {
    const seeded = await experimentId(page, baseURL, 'ui-tests');
    const tab = await openFromSidebar(page, 'experiments');
    const view = tab.getByRole('region', { name: 'experiments' });
    await view
      .getByRole('combobox', { name: 'Experiment' })
      .selectOption(seeded);
    const table = view.getByRole('table', { name: 'experiment runs' });
    await expect(table.locator('tbody tr')).toHaveCount(3);
    // With room, more of the notebook's own metrics are columns by default.
    for (const column of [
      'metrics.accuracy',
      'metrics.loss',
      'metrics.test_score',
      'params.lr'
    ]) {
      await expect(
        table.getByRole('button', { name: `sort by ${column}` })
      ).toHaveCount(1);
    }
    for (const name of ['lr-0.1', 'lr-0.01', 'lr-0.001']) {
      await table.getByRole('checkbox', { name: `select ${name}` }).check();
    }
    await view.getByRole('button', { name: 'Compare 3 runs' }).click();
    const comparison = view.getByRole('region', { name: 'run comparison' });
    const loss = comparison.getByRole('figure', { name: 'loss chart' });
    await expect(loss.locator('svg polyline')).toHaveCount(3);
    // test_score was logged once per run: three bars, each labelled with its value, no step axis.
    const score = comparison.getByRole('figure', { name: 'test_score chart' });
    await expect(score.locator('svg rect')).toHaveCount(3);
    await expect(score.locator('svg polyline, svg circle')).toHaveCount(0);
    await expect(score.locator('svg text')).toHaveText(['0.7', '0.78', '0.86']);
    const widths = await score
      .locator('svg rect')
      .evaluateAll(rects =>
        rects.map(r => Number((r as SVGRectElement).getAttribute('width')))
      );
    expect(widths[0]).toBeLessThan(widths[1]);
    expect(widths[1]).toBeLessThan(widths[2]);
    // The charts sit side by side with the room of the main area.
    const boxes = await comparison
      .locator('.jp-nblift-chart-grid > figure')
      .evaluateAll(figures =>
        figures.map(f => Math.round(f.getBoundingClientRect().top))
      );
    expect(new Set(boxes).size).toBeLessThan(boxes.length);
    await expect(
      comparison
        .getByRole('table', { name: 'compared parameters' })
        .locator('tbody tr.jp-nblift-differs th')
    ).toHaveText(['lr']);

    await page.sidebar.close();
    await view.getByRole('button', { name: 'lr-0.1', exact: true }).click();
    await view
      .getByRole('region', { name: 'run comparison' })
      .scrollIntoViewIfNeeded();
    await docScreenshot(tab, 'experiments-compare.png');
    await tab.locator('.jp-nblift-workbench').evaluate(el => {
      el.scrollTop = 0;
    });
    await docScreenshot(tab, 'experiments.png');
  });

  test('curves by step or time, smoothed, on a log scale; long series downsampled; parallel coordinates', async ({
    page,
    baseURL
  }) => {
    const tab = await openView(page, 'experiments');
    const view = tab.getByRole('region', { name: 'experiments' });
    const picker = view.getByRole('combobox', { name: 'Experiment' });
    const table = view.getByRole('table', { name: 'experiment runs' });
    const comparison = view.getByRole('region', { name: 'run comparison' });

    // ui-curves: three runs of 5,000 points each; the server sends at most 2,000, the chart draws about
    // two points per pixel column, keeping the first and the last.
    await picker.selectOption(await experimentId(page, baseURL, 'ui-curves'));
    await expect(table.locator('tbody tr')).toHaveCount(3);
    for (const name of ['curve-0', 'curve-1', 'curve-2']) {
      await table.getByRole('checkbox', { name: `select ${name}` }).check();
    }
    await view.getByRole('button', { name: 'Compare 3 runs' }).click();
    const long = comparison.getByRole('figure', { name: 'loss chart' });
    const lines = long.locator('svg polyline');
    await expect(lines).toHaveCount(3);
    const plotWidth = await long
      .locator('svg[role="img"]')
      .evaluate(svg => Number(svg.getAttribute('width')));
    for (const line of await lines.all()) {
      await expect(line).toHaveAttribute('data-source-points', '2000');
      const drawn = Number(await line.getAttribute('data-points'));
      expect(drawn).toBeGreaterThan(plotWidth);
      expect(drawn).toBeLessThanOrEqual(plotWidth * 2 + 1);
    }
    // Parallel coordinates: a numeric axis per parameter, the metric last, a line per run.
    const curvesParallel = comparison.getByRole('figure', {
      name: 'parallel coordinates chart'
    });
    await expect(curvesParallel.locator('[data-axis]')).toHaveCount(2);
    await expect(curvesParallel.locator('[data-axis="width"]')).toHaveAttribute(
      'data-kind',
      'numeric'
    );
    await comparison.getByRole('button', { name: 'close comparison' }).click();
    await view.getByRole('button', { name: 'Clear selection' }).click();

    // ui-tests: loss and accuracy over five steps (100 ms apart), lr and optimizer.
    await picker.selectOption(await experimentId(page, baseURL, 'ui-tests'));
    await expect(table.locator('tbody tr')).toHaveCount(3);
    for (const name of ['lr-0.1', 'lr-0.01', 'lr-0.001']) {
      await table.getByRole('checkbox', { name: `select ${name}` }).check();
    }
    await view.getByRole('button', { name: 'Compare 3 runs' }).click();
    const controls = comparison.getByRole('group', { name: 'chart controls' });
    const loss = comparison.getByRole('figure', { name: 'loss chart' });
    const plot = loss.locator('svg[role="img"]');
    await expect(plot).toHaveAttribute('aria-label', 'loss by step, 3 runs');
    const stepAxis = await loss
      .locator('.jp-nblift-axis text')
      .allTextContents();
    expect(stepAxis).toContain('4');

    const xAxis = controls.getByRole('combobox', { name: 'X axis' });
    await xAxis.selectOption('relative');
    await expect(plot).toHaveAttribute('aria-label', 'loss by seconds, 3 runs');
    await expect(loss.locator('.jp-nblift-axis text').last()).toHaveText('0.4');
    await xAxis.selectOption('wall');
    await expect(plot).toHaveAttribute('aria-label', 'loss by time, 3 runs');
    await expect(loss.locator('.jp-nblift-axis text').last()).toContainText(
      ':'
    );
    await xAxis.selectOption('step');

    // Smoothing: the raw line stays, faded, behind a smoothed one that starts where the raw one does.
    const raw = await loss
      .locator('svg polyline')
      .first()
      .getAttribute('points');
    const slider = controls.getByRole('slider', { name: 'Smoothing' });
    await slider.fill('0.6');
    await expect(controls.locator('output')).toHaveText('0.60');
    await expect(loss.locator('svg polyline')).toHaveCount(6);
    await expect(loss.locator('polyline.jp-nblift-series-raw')).toHaveCount(3);
    await expect(
      loss.locator('polyline.jp-nblift-series-raw').first()
    ).toHaveAttribute('points', raw ?? '');
    const smoothed = (
      await loss
        .locator('polyline:not(.jp-nblift-series-raw)')
        .first()
        .getAttribute('points')
    )?.split(' ');
    expect(smoothed?.length).toBe(5);
    expect(smoothed?.[0]).toBe(raw?.split(' ')[0]);
    expect(smoothed?.join(' ')).not.toBe(raw);
    // The slider answers the keyboard.
    await slider.focus();
    await page.keyboard.press('ArrowRight');
    await expect(controls.locator('output')).toHaveText('0.61');

    const log = controls.getByRole('checkbox', { name: 'Log scale (y)' });
    await log.check();
    await expect(plot).toHaveAttribute(
      'aria-label',
      'loss by step, log scale, 3 runs'
    );
    await slider.fill('0');
    await expect(loss.locator('svg polyline')).toHaveCount(3);

    // Parallel coordinates: lr numeric, optimizer categorical, the chosen metric last; one line per run.
    const parallel = comparison.getByRole('figure', {
      name: 'parallel coordinates chart'
    });
    const axes = parallel.locator('[data-axis]');
    await expect(axes).toHaveCount(3);
    expect(
      await axes.evaluateAll(gs =>
        gs.map(
          g => `${g.getAttribute('data-axis')}:${g.getAttribute('data-kind')}`
        )
      )
    ).toEqual([
      'lr:numeric',
      'optimizer:categorical',
      'metrics.accuracy:numeric'
    ]);
    await parallel
      .getByRole('combobox', { name: 'Metric axis' })
      .selectOption('loss');
    await expect(axes.last()).toHaveAttribute('data-axis', 'metrics.loss');
    const runLines = parallel.locator('polyline.jp-nblift-parallel-line');
    await expect(runLines).toHaveCount(3);
    // lr 0.001 is the axis's bottom, 0.1 its top: the lines start at different heights.
    const starts = await runLines.evaluateAll(ls =>
      ls.map(l => Number((l.getAttribute('points') ?? '').split(/[ ,]/)[1]))
    );
    expect(new Set(starts).size).toBe(3);
    // Each run's line is reachable from the keyboard and reads out its values.
    await runLines.first().focus();
    await expect(runLines.first()).toBeFocused();
    await expect(runLines.first()).toHaveAttribute(
      'aria-label',
      /^lr-[0-9.]+: lr [0-9.]+, optimizer sgd, metrics\.loss [0-9.]+$/
    );
    await expect(runLines.nth(1)).toHaveClass(/jp-nblift-parallel-dim/);
    await parallel.scrollIntoViewIfNeeded();
    await docScreenshot(parallel, 'experiments-parallel.png');
  });

  test('the sidebar is a compact navigator of folding sections', async ({
    page
  }) => {
    await page.sidebar.openTab(SIDEBAR);
    const panel = page.locator(`#${SIDEBAR}`);
    const sections = panel.locator('details.jp-nblift-nav-section > summary');
    await expect(sections).toHaveText([
      'Status',
      'Snapshots',
      'Environment',
      'Recent runs'
    ]);
    // No Refresh buttons: the views follow the kernel.
    await expect(panel.getByRole('button', { name: /^Refresh/ })).toHaveCount(
      0
    );
    // A section folds from the keyboard.
    await expect(panel.getByTestId('nblift-project')).toBeVisible();
    await sections.first().focus();
    await page.keyboard.press('Enter');
    await expect(panel.getByTestId('nblift-project')).toBeHidden();
    await page.keyboard.press('Enter');
    await expect(panel.getByTestId('nblift-project')).toBeVisible();
    await docScreenshot(panel, 'sidebar.png');
  });

  test('the dark theme: computed colours follow the theme, and nblift writes no colour of its own', async ({
    page,
    baseURL
  }) => {
    const seeded = await experimentId(page, baseURL, 'ui-tests');
    const tab = await openView(page, 'experiments');
    const view = tab.getByRole('region', { name: 'experiments' });
    await view
      .getByRole('combobox', { name: 'Experiment' })
      .selectOption(seeded);
    await expect(view.locator('tbody tr')).toHaveCount(3);
    for (const name of ['lr-0.1', 'lr-0.01']) {
      await view.getByRole('checkbox', { name: `select ${name}` }).check();
    }
    await view.getByRole('button', { name: 'Compare 2 runs' }).click();
    await expect(view.locator('figure svg').first()).toBeVisible();
    await page.sidebar.openTab(SIDEBAR);

    // No colour literal in nblift's style rules or inline styles: every colour comes from a --jp- variable.
    const literals = await page.evaluate(() => {
      const colour =
        /#[0-9a-f]{3,8}\b|\b(rgba?|hsla?|hwb|lab|lch|oklab|oklch)\(|\b(white|black|red|green|blue|gray|grey|orange|yellow|purple)\b/i;
      const found: string[] = [];
      for (const sheet of Array.from(document.styleSheets)) {
        let rules: CSSRule[] = [];
        try {
          rules = Array.from(sheet.cssRules);
        } catch {
          continue;
        }
        for (const rule of rules) {
          if (
            !(rule instanceof CSSStyleRule) ||
            !rule.selectorText.includes('jp-nblift')
          ) {
            continue;
          }
          for (const property of Array.from(rule.style)) {
            const value = rule.style.getPropertyValue(property);
            if (
              /color|background|border|fill|stroke|shadow|outline/.test(
                property
              ) &&
              colour.test(value.replace(/var\([^)]*\)/g, ''))
            ) {
              found.push(`${rule.selectorText} { ${property}: ${value} }`);
            }
          }
        }
      }
      for (const element of Array.from(
        document.querySelectorAll<HTMLElement>(
          '.jp-nblift-workbench [style], .jp-nblift-sidebar [style]'
        )
      )) {
        if (colour.test(element.getAttribute('style') ?? '')) {
          found.push(`inline: ${element.getAttribute('style')}`);
        }
      }
      return found;
    });
    expect(literals).toEqual([]);

    const probes: Record<string, string> = {
      'view background': '.jp-nblift-workbench',
      'view text': '.jp-nblift-workbench .jp-nblift-subtitle',
      'table header': '.jp-nblift-workbench thead th',
      'muted text': '.jp-nblift-workbench .jp-nblift-muted',
      'chart axis': '.jp-nblift-workbench .jp-nblift-axis text',
      'sidebar background': '.jp-nblift-sidebar',
      'sidebar link': '.jp-nblift-view-link'
    };
    const read = async (): Promise<Record<string, string>> =>
      page.evaluate(selectors => {
        const out: Record<string, string> = {};
        for (const [name, selector] of Object.entries(selectors)) {
          const element = document.querySelector(selector);
          if (!element) {
            out[name] = 'missing';
            continue;
          }
          const style = getComputedStyle(element);
          out[name] = [
            style.color,
            style.backgroundColor,
            style.fill,
            style.borderTopColor
          ].join(' | ');
        }
        return out;
      }, probes);
    const light = await read();
    await page.theme.setDarkTheme();
    await expect(page.locator('body')).toHaveAttribute(
      'data-jp-theme-light',
      'false'
    );
    const dark = await read();
    for (const name of Object.keys(probes)) {
      expect(light[name], name).not.toBe('missing');
      expect(dark[name], `${name} changes with the theme`).not.toBe(
        light[name]
      );
    }
    // The view's text is light on dark: the theme's colours, not fixed ones.
    const luminance = await page.evaluate(() => {
      const parse = (c: string): number => {
        const [r, g, b] = (c.match(/\d+(\.\d+)?/g) ?? ['0', '0', '0'])
          .slice(0, 3)
          .map(Number);
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const view = document.querySelector('.jp-nblift-workbench') as Element;
      const style = getComputedStyle(view);
      return {
        text: parse(style.color),
        background: parse(style.backgroundColor)
      };
    });
    expect(luminance.text).toBeGreaterThan(luminance.background);
    await docScreenshot(tab, 'experiments-dark.png');
    await page.theme.setLightTheme();
  });

  test('axe finds no serious or critical accessibility violation in any view', async ({
    page,
    baseURL
  }) => {
    const seeded = await experimentId(page, baseURL, 'ui-tests');
    const experiments = await openView(page, 'experiments');
    const view = experiments.getByRole('region', { name: 'experiments' });
    await view
      .getByRole('combobox', { name: 'Experiment' })
      .selectOption(seeded);
    await expect(view.locator('tbody tr')).toHaveCount(3);
    await view.getByRole('button', { name: 'lr-0.1', exact: true }).click();
    for (const name of ['lr-0.1', 'lr-0.01', 'lr-0.001']) {
      await view.getByRole('checkbox', { name: `select ${name}` }).check();
    }
    await view.getByRole('button', { name: 'Compare 3 runs' }).click();
    await expect(
      view.getByRole('region', { name: 'run comparison' })
    ).toBeVisible();
    await page.sidebar.openTab(SIDEBAR);
    const scopes: [string, () => Promise<unknown>][] = [
      ['#nblift-experiments', async () => openView(page, 'experiments')],
      ['#nblift-runs', async () => openView(page, 'runs')],
      ['#nblift-registry', async () => openView(page, 'registry')],
      [`#${SIDEBAR}`, async () => page.sidebar.openTab(SIDEBAR)]
    ];
    for (const [scope, show] of scopes) {
      await show();
      const results = await new AxeBuilder({ page }).include(scope).analyze();
      const grave = results.violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(
          v =>
            `${v.id} (${v.impact}): ${v.help} at ${v.nodes
              .slice(0, 3)
              .map(n => n.target.join(' '))
              .join('; ')}`
        );
      expect(results.passes.length, `axe checked ${scope}`).toBeGreaterThan(0);
      expect(grave, scope).toEqual([]);
    }
  });

  test("the Settings Editor's autosnapshot default turns automatic snapshots on in a new notebook's kernel", async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(120000);
    await page.evaluate(async () => {
      const registry = await (window as any).galata.getPlugin(
        '@jupyterlab/apputils-extension:settings'
      );
      await registry.set('nblift:plugin', 'autosnapshot', true);
    });
    await openNewNotebook(page, `${tmpPath}/auto.ipynb`);
    await page.notebook.setCell(0, 'code', '%lift autosnapshot');
    // The kernel was told when it started (the extension is loaded for it): no %load_ext in the notebook.
    await expect
      .poll(
        async () => {
          await page.notebook.runCell(0);
          return cellText(page, 0);
        },
        { timeout: 60000, intervals: [1000, 2000, 4000] }
      )
      .toContain('autosnapshot is on');
    await page.evaluate(async () => {
      const registry = await (window as any).galata.getPlugin(
        '@jupyterlab/apputils-extension:settings'
      );
      await registry.set('nblift:plugin', 'autosnapshot', false);
    });
  });
});
