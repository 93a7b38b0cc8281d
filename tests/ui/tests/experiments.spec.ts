import { expect, Locator, Page, test } from '@jupyterlab/galata';

import { openNewNotebook, runLast } from './notebook';
import { openView, viewTab } from './views';

interface IExperiment {
  id: string;
  name: string;
  runs: number | null;
  last_update: number | null;
}

/** The experiments of the project of `path` (default: the root, seeded by jupyter_server_test_config.py). */
async function experiments(
  page: Page,
  baseURL: string | undefined,
  path = ''
): Promise<IExperiment[]> {
  const response = await page.request.get(
    `${baseURL}/nblift/api/experiments?path=${encodeURIComponent(path)}`
  );
  expect(response.ok()).toBeTruthy();
  return (await response.json()).experiments;
}

function named(list: IExperiment[], name: string): IExperiment {
  const found = list.find(e => e.name === name);
  expect(found, `experiment ${name} is listed`).toBeTruthy();
  return found as IExperiment;
}

async function openExperiments(page: Page): Promise<Locator> {
  const tab = await openView(page, 'experiments');
  const view = tab.getByRole('region', { name: 'experiments' });
  await expect(
    view.getByRole('combobox', { name: 'Experiment' })
  ).toBeVisible();
  return view;
}

test.describe('nblift experiments view', () => {
  test('filter, sort, open a run and compare two', async ({
    page,
    baseURL
  }) => {
    const list = await experiments(page, baseURL);
    const own = (
      await (await page.request.get(`${baseURL}/nblift/api/experiments`)).json()
    ).project_experiment;
    // The view opens on the project's own experiment, else on the one updated last.
    const latest =
      list.find(e => e.name === own) ??
      list.reduce((a, b) =>
        (b.last_update ?? -1) > (a.last_update ?? -1) ? b : a
      );
    const seeded = named(list, 'ui-tests');
    const view = await openExperiments(page);
    const panel = viewTab(page, 'experiments');
    const picker = view.getByRole('combobox', { name: 'Experiment' });

    // The picker counts each experiment's runs.
    await expect(picker).toHaveValue(latest.id);
    await expect(
      picker.locator('option', { hasText: 'ui-tests (3)' })
    ).toHaveCount(1);
    await picker.selectOption(seeded.id);
    const table = view.getByRole('table', { name: 'experiment runs' });
    const rows = table.locator('tbody tr');
    const names = table.locator('tbody .jp-nblift-run-link');
    await expect(rows).toHaveCount(3);
    await expect(view.getByTestId('nblift-runs-range')).toHaveText(
      'rows 1–3 of 3'
    );
    await expect(rows.first().locator('.jp-nblift-state')).toHaveText(
      'FINISHED'
    );
    // Default columns: the first two metrics and the first two parameters; newest run first.
    for (const column of [
      'metrics.accuracy',
      'metrics.loss',
      'params.lr',
      'params.optimizer'
    ]) {
      await expect(
        table.getByRole('button', { name: `sort by ${column}` })
      ).toHaveCount(1);
    }
    await expect(names).toHaveText(['lr-0.001', 'lr-0.01', 'lr-0.1']);

    // The server filters with MLflow's syntax when Enter is pressed.
    const filter = view.getByRole('searchbox', { name: 'Filter runs' });
    await filter.fill("params.lr = '0.1'");
    await filter.press('Enter');
    await expect(rows).toHaveCount(1);
    await expect(names).toHaveText(['lr-0.1']);
    await expect(view.getByTestId('nblift-runs-range')).toHaveText(
      'rows 1–1 of 1'
    );
    // A filter it cannot read is answered by the box with what to write; the rows stay.
    await filter.fill('metrics.loss <');
    await filter.press('Enter');
    const refused = view.getByRole('alert', { name: 'filter error' });
    await expect(refused).toContainText('cannot read the search');
    await table.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: test.info().outputPath('refused.png') });
    await expect(refused).toContainText("params.lr = '0.1'");
    await expect(rows).toHaveCount(1);
    await filter.fill('');
    await expect(rows).toHaveCount(3);
    await expect(refused).toHaveCount(0);

    // Clicking a column header sorts on the server; again, the other way.
    const loss = table.getByRole('button', { name: 'sort by metrics.loss' });
    await loss.click();
    await expect(names).toHaveText(['lr-0.1', 'lr-0.01', 'lr-0.001']);
    await expect(table.locator('th[aria-sort="ascending"]')).toHaveText(/loss/);
    await loss.click();
    await expect(names).toHaveText(['lr-0.001', 'lr-0.01', 'lr-0.1']);
    await expect(table.locator('th[aria-sort="descending"]')).toHaveText(
      /loss/
    );

    await table.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: test.info().outputPath('runs-table.png') });

    // A run's detail: parameters, latest metrics, tags, lineage.
    await names.filter({ hasText: /^lr-0\.1$/ }).click();
    const detail = view.getByRole('region', { name: 'tracked run lr-0.1' });
    const params = detail.getByRole('table', { name: 'parameters' });
    await expect(params.getByRole('row', { name: 'lr 0.1' })).toHaveCount(1);
    await expect(
      params.getByRole('row', { name: 'optimizer sgd' })
    ).toHaveCount(1);
    await expect(
      detail.getByRole('table', { name: 'latest metrics' })
    ).toContainText('0.2');
    await expect(
      detail.getByRole('button', { name: 'copy git commit' })
    ).toBeVisible();
    await detail.getByText(/^Tags \(\d+\)$/).click();
    await expect(detail.getByRole('table', { name: 'tags' })).toContainText(
      'nblift.kind'
    );
    await expect(rows.filter({ hasText: /^lr-0\.1/ }).first()).toHaveAttribute(
      'aria-selected',
      'true'
    );

    // Two runs side by side: a curve per run on each metric's plot, the parameter that differs marked.
    await table.getByRole('checkbox', { name: 'select lr-0.1' }).check();
    await table.getByRole('checkbox', { name: 'select lr-0.01' }).check();
    await expect(detail).toBeVisible(); // ticking a box does not open the run
    await view.getByRole('button', { name: 'Compare 2 runs' }).click();
    const comparison = view.getByRole('region', { name: 'run comparison' });
    const chart = comparison.getByRole('figure', { name: 'loss chart' });
    await expect(chart.locator('svg polyline')).toHaveCount(2);
    await expect(chart.getByRole('list', { name: 'loss legend' })).toHaveText(
      /lr-0\.1.*lr-0\.01/
    );
    await expect(chart.getByRole('img')).toContainText('step');
    await expect(
      comparison.getByRole('figure', { name: 'accuracy chart' })
    ).toHaveCount(1);
    const compared = comparison.getByRole('table', {
      name: 'compared parameters'
    });
    const differs = compared.locator('tbody tr.jp-nblift-differs');
    await expect(differs).toHaveCount(1);
    await expect(differs.locator('th')).toHaveText('lr');
    await expect(
      compared.locator('tbody tr:not(.jp-nblift-differs) th')
    ).toHaveText(['optimizer']);
    // Nothing runs off the side of the view.
    const content = panel.locator('.jp-nblift-workbench');
    expect(await content.evaluate(el => el.scrollWidth - el.clientWidth)).toBe(
      0
    );
    await detail.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: test.info().outputPath('detail.png') });
    await chart.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: test.info().outputPath('compare.png') });

    // The run's notebook opens from its lineage.
    await detail
      .getByTestId('nblift-lineage-notebook')
      .getByRole('button', { name: 'train.ipynb' })
      .click();
    await expect(
      page.locator('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current')
    ).toHaveAttribute('title', /train\.ipynb/);
  });

  test('columns are chosen and remembered; pages go forward and back', async ({
    page,
    baseURL
  }) => {
    const list = await experiments(page, baseURL);
    let view = await openExperiments(page);
    await view
      .getByRole('combobox', { name: 'Experiment' })
      .selectOption(named(list, 'ui-tests').id);
    let table = view.getByRole('table', { name: 'experiment runs' });
    await expect(table.locator('tbody tr')).toHaveCount(3);

    // The choice goes into JupyterLab's state (saved with the workspace).
    const saved = page.waitForRequest(
      request =>
        request.method() === 'PUT' &&
        request.url().includes('/api/workspaces') &&
        (request.postData() ?? '').includes('attributes.start_time')
    );
    await view.getByText('Columns', { exact: true }).click();
    await view.getByRole('checkbox', { name: 'params.optimizer' }).uncheck();
    await view.getByRole('checkbox', { name: 'attributes.start_time' }).check();
    await expect(
      table.getByRole('button', { name: 'sort by params.optimizer' })
    ).toHaveCount(0);
    await expect(
      table.getByRole('button', { name: 'sort by attributes.start_time' })
    ).toHaveCount(1);
    await view.locator('.jp-nblift-chooser').scrollIntoViewIfNeeded();
    await viewTab(page, 'experiments').screenshot({
      path: test.info().outputPath('columns.png')
    });
    await saved;

    // After a reload the experiment shows the columns chosen for it.
    // (The workspace restores the Experiments tab instead of the launcher galata waits for by default.)
    await page.reload({ waitForIsReady: false });
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    view = await openExperiments(page);
    await view
      .getByRole('combobox', { name: 'Experiment' })
      .selectOption(named(list, 'ui-tests').id);
    table = view.getByRole('table', { name: 'experiment runs' });
    await expect(table.locator('tbody tr')).toHaveCount(3);
    await expect(
      table.getByRole('button', { name: 'sort by attributes.start_time' })
    ).toHaveCount(1);
    await expect(
      table.getByRole('button', { name: 'sort by params.optimizer' })
    ).toHaveCount(0);

    // 55 runs: a page of 50, the next page of 5, and back.
    await view
      .getByRole('combobox', { name: 'Experiment' })
      .selectOption(named(list, 'ui-pages').id);
    const range = view.getByTestId('nblift-runs-range');
    await expect(range).toHaveText('rows 1–50 of 55');
    await expect(table.locator('tbody tr')).toHaveCount(50);
    const previous = view.getByRole('button', { name: 'Previous' });
    const next = view.getByRole('button', { name: 'Next' });
    await expect(previous).toBeDisabled();
    await next.click();
    await expect(range).toHaveText('rows 51–55 of 55');
    await expect(table.locator('tbody tr')).toHaveCount(5);
    await expect(next).toBeDisabled();
    await expect(table.locator('tbody .jp-nblift-run-link').last()).toHaveText(
      'page-00'
    );
    await previous.click();
    await expect(range).toHaveText('rows 1–50 of 55');
    await expect(table.locator('tbody .jp-nblift-run-link').first()).toHaveText(
      'page-54'
    );
  });

  test('a run in progress keeps the page refreshing; finished runs do not', async ({
    page,
    baseURL
  }) => {
    const list = await experiments(page, baseURL);
    const live = named(list, 'ui-live');
    const view = await openExperiments(page);
    await view
      .getByRole('combobox', { name: 'Experiment' })
      .selectOption(live.id);
    const table = view.getByRole('table', { name: 'experiment runs' });
    await expect(table.locator('tbody .jp-nblift-state')).toHaveText('RUNNING');
    await expect(view.locator('.jp-nblift-live')).toBeVisible();
    let searches = 0;
    page.on('request', request => {
      if (request.url().includes(`/experiments/${live.id}/runs`)) {
        searches += 1;
      }
    });
    await expect.poll(() => searches, { timeout: 10000 }).toBeGreaterThan(1);

    await view
      .getByRole('combobox', { name: 'Experiment' })
      .selectOption(named(list, 'ui-tests').id);
    await expect(table.locator('tbody tr')).toHaveCount(3);
    await expect(view.locator('.jp-nblift-live')).toHaveCount(0);
    const after = searches;
    await page.waitForTimeout(5000);
    expect(searches).toBe(after);
  });
});

test.describe('nblift experiments view, from a notebook', () => {
  test("a tracked run's snapshot restores into the notebook's kernel", async ({
    page,
    baseURL
  }) => {
    test.setTimeout(240000);
    // In a project of its own (seeded).
    const folder = 'lineage-project';
    await openNewNotebook(page, `${folder}/lineage.ipynb`);
    await page.notebook.setCell(0, 'code', '%load_ext nblift\nx = [1, 2, 3]');
    await page.notebook.run();
    await page.notebook.save();
    await runLast(page, '%lift snapshot --wait -m "before"');
    await runLast(
      page,
      // One line per statement: the editor indents what is typed into it.
      'import nblift\n' +
        'with nblift.track("restorable", params={"alpha": 0.5}): ' +
        '[nblift.log(step=s, loss=1.0 / (s + 1)) for s in range(3)]\n' +
        'x.append(4)'
    );
    await page.notebook.save();

    // The run went into the project's experiment (named after the project folder), in its own store.
    const project = named(await experiments(page, baseURL, folder), folder);
    const view = await openExperiments(page);
    await view.getByRole('button', { name: 'Refresh experiments' }).click();
    await view
      .getByRole('combobox', { name: 'Experiment' })
      .selectOption(project.id);
    const table = view.getByRole('table', { name: 'experiment runs' });
    await table
      .getByRole('button', { name: 'restorable', exact: true })
      .first()
      .click();
    const detail = view.getByRole('region', { name: 'tracked run restorable' });
    await expect(
      detail.getByRole('table', { name: 'parameters' })
    ).toContainText('alpha');
    // Its notebook: named relative to its project, found under the server root.
    await expect(
      detail
        .getByTestId('nblift-lineage-notebook')
        .getByRole('button', { name: 'lineage.ipynb' })
    ).toHaveAttribute('title', `Open ${folder}/lineage.ipynb`);

    await detail
      .getByRole('button', { name: "Restore into this notebook's kernel" })
      .click();
    // x is live in the kernel: the restore names it and asks first.
    const dialog = page.locator('.jp-Dialog');
    await expect(
      dialog.getByRole('list', { name: 'variables overwritten' })
    ).toContainText('x');
    await dialog.getByRole('button', { name: 'Overwrite and restore' }).click();
    await expect(detail.getByTestId('nblift-restore-message')).toContainText(
      'restored',
      { timeout: 60000 }
    );
    await page.notebook.activate('lineage.ipynb');
    const last = await runLast(page, 'print(len(x))');
    await expect
      .poll(async () => page.notebook.getCellTextOutput(last))
      .toEqual(['3\n']);
  });
});
