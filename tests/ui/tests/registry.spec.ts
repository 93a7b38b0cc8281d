import { expect, test } from '@jupyterlab/galata';

import { cellText, openNewNotebook, runLast } from './notebook';
import { docScreenshot, openView, SIDEBAR, viewTab } from './views';

/** Seeded by jupyter_server_test_config.py: `champion` needs accuracy >= 0.5 and one approval. */
const FOLDER = 'registry-project';
const MODEL = 'iris-ui';
/** Markup that would run if the card's page were put into JupyterLab's own document. */
const MARKUP =
  '<img src=x onerror="window.top.nbliftXss=1"><script>window.top.nbliftXss=2</script>';

test.use({ viewport: { width: 1280, height: 800 } });

test.describe('nblift registry view', () => {
  test('a model registered from a notebook is promoted through its gates, with lineage, card and audit trail', async ({
    page,
    baseURL
  }) => {
    test.setTimeout(420000);
    await openNewNotebook(page, `${FOLDER}/iris.ipynb`);
    await page.notebook.setCell(0, 'code', '%load_ext nblift');
    await page.notebook.run();
    await runLast(
      page,
      // One line per statement: the editor indents what is typed into it.
      'import nblift\n' +
        'from sklearn.datasets import load_iris\n' +
        'from sklearn.linear_model import LogisticRegression\n' +
        'X, y = load_iris(return_X_y=True)\n' +
        'model = LogisticRegression(max_iter=300).fit(X, y)\n' +
        'nblift.log(accuracy=float(model.score(X, y)))'
    );
    // The data scientist registers from the kernel; the reviewer approves from the Registry view.
    await runLast(page, '%env NBLIFT_USER=data-scientist');
    // A snapshot of the trained kernel: the version's lineage links to it.
    const snapshot = await runLast(page, '%lift snapshot --wait -m "trained"');
    await expect
      .poll(() => cellText(page, snapshot), { timeout: 60000 })
      .toMatch(/snapshot [0-9a-f]+: \d+ variables/);
    const registered = await runLast(
      page,
      `%lift register model --name ${MODEL} --example X[:5]`
    );
    await expect
      .poll(() => cellText(page, registered), { timeout: 120000 })
      .toContain(`models:/${MODEL}/1`);
    // Markup cannot name a model: the magic and the server refuse it before anything is stored.
    const hostile = await runLast(
      page,
      '%lift register model --name <b>x</b> --example X[:5]'
    );
    await expect
      .poll(() => cellText(page, hostile), { timeout: 60000 })
      .toContain('cannot be a model name');
    await page.notebook.save();
    const refused = await page.request.get(
      `${baseURL}/nblift/api/registry/models/${encodeURIComponent('<b>x</b>')}?path=${FOLDER}`
    );
    expect(refused.status()).toBe(400);
    expect((await refused.json()).message).toContain('cannot be a model name');

    // The Registry view follows the notebook into its project: the model and its version are listed.
    const panel = await openView(page, 'registry');
    const view = panel.getByRole('region', { name: 'registry' });
    await view.getByRole('button', { name: 'Refresh registry' }).click();
    const entry = view.getByTestId(`nblift-model-${MODEL}`);
    await expect(entry).toContainText('v1', { timeout: 30000 });
    await entry.getByRole('button').click();
    const versions = view.getByRole('table', { name: 'model versions' });
    await versions.getByRole('button', { name: 'v1', exact: true }).click();
    await view.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: test.info().outputPath('registry.png') });
    const version = view.getByRole('region', {
      name: `model version ${MODEL} v1`
    });

    // The gates of champion, evaluated with their numbers: the metric passes, the approval is missing, the
    // data gate has not run for this version.
    const gates = version.getByRole('list', { name: 'gates', exact: true });
    const metric = gates.getByTestId('nblift-gate-metric');
    const approvals = gates.getByTestId('nblift-gate-approvals');
    const data = gates.getByTestId('nblift-gate-data');
    await expect(metric).toHaveAttribute('data-passed', 'true');
    await expect(metric).toContainText(/accuracy = 0\.\d+ \(needs >= 0\.5\)/);
    await expect(approvals).toHaveAttribute('data-passed', 'false');
    await expect(approvals).toContainText('0 of 1');
    await expect(data).toHaveAttribute('data-passed', 'false');
    await expect(data).toContainText('not run for this version');

    // Run gates: the data gate runs (the evaluation data against its schema), its verdict goes into the
    // audit trail and the gate shows it.
    const audit = view.getByRole('table', { name: 'audit entries' });
    await version.getByRole('button', { name: 'Run gates' }).click();
    await expect(version.getByTestId('nblift-registry-message')).toContainText(
      '1 quality gate of champion ran for v1: all passed',
      { timeout: 60000 }
    );
    await expect(data).toHaveAttribute('data-passed', 'true');
    await expect(audit.getByTestId('nblift-audit-gates')).toHaveCount(1);

    // Promoting now is blocked by the failing gate, and offers an override.
    const promote = version.getByRole('button', {
      name: 'Promote to champion'
    });
    await promote.click();
    const blocked = version.getByRole('alert', { name: 'promotion blocked' });
    await expect(blocked).toContainText('1 gate failed');
    await expect(blocked.getByRole('listitem')).toHaveText([/approval/]);
    await expect(
      blocked.getByRole('button', { name: 'Override…' })
    ).toBeVisible();
    await panel.screenshot({ path: test.info().outputPath('blocked.png') });

    // A rejection asks for its reason, which the audit trail keeps.
    await version.getByRole('button', { name: 'Reject…' }).click();
    const dialog = page.locator('.jp-Dialog');
    await dialog.getByRole('textbox').fill('needs a <i>holdout</i> set');
    await dialog.getByRole('button', { name: 'Reject', exact: true }).click();
    await expect(audit.getByTestId('nblift-audit-reject')).toContainText(
      'needs a <i>holdout</i> set'
    );
    await expect(approvals).toContainText('rejected by');

    // The server's user (not the kernel's, who registered it) approves under a real name, never Jupyter's
    // anonymous hex id; then the promotion goes through.
    await version.getByRole('button', { name: 'Approve', exact: true }).click();
    await expect(approvals).toHaveAttribute('data-passed', 'true');
    await expect(approvals).toContainText('1 of 1');
    await promote.click();
    await expect(version.getByTestId('nblift-registry-message')).toContainText(
      `${MODEL}@champion → v1: promoted`
    );
    await expect(blocked).toHaveCount(0);
    await expect(version.getByTestId('nblift-version-aliases')).toContainText(
      '@champion'
    );
    await expect(entry).toContainText('@champion v1');
    await expect(versions.getByTestId('nblift-model-version-1')).toContainText(
      '✓ champion'
    );
    const promoted = audit.getByTestId('nblift-audit-promote');
    await expect(promoted).toContainText('champion');
    await expect(audit.getByTestId('nblift-audit-approve')).toHaveCount(1);
    await expect(audit.getByTestId('nblift-audit-approve')).not.toContainText(
      /[0-9a-f]{32}/
    );
    await expect(audit.getByTestId('nblift-audit-register')).toHaveCount(1);
    await expect(audit.getByTestId('nblift-audit-register')).toContainText(
      'data-scientist'
    );

    // An ungated alias is set and removed from the panel; a gated one only moves by promotion.
    const aliases = version.getByTestId('nblift-version-aliases');
    const field = version.getByRole('textbox', { name: 'alias to set' });
    await field.fill('challenger');
    await version.getByRole('button', { name: 'Set alias' }).click();
    await expect(aliases).toContainText('@challenger');
    await version
      .getByRole('button', { name: 'remove alias challenger' })
      .click();
    await expect(aliases).not.toContainText('@challenger');
    await expect(audit.getByTestId('nblift-audit-unalias')).toHaveCount(1);
    await field.fill('champion');
    await version.getByRole('button', { name: 'Set alias' }).click();
    await expect(version.getByRole('alert')).toContainText('use Promote');

    // The lineage graph: the version, and the MLflow run it was trained in, which opens in the Experiments view.
    const graph = version.getByRole('figure', { name: 'lineage graph' });
    await expect(graph.getByTestId('nblift-lineage-version')).toContainText(
      `${MODEL} v1`
    );
    const run = graph.getByTestId('nblift-lineage-run');
    await expect(run).toHaveCount(1);
    await graph.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: test.info().outputPath('lineage.png') });
    await page.sidebar.close();
    await docScreenshot(panel, 'registry.png');
    await graph.getByTestId('nblift-lineage-notebook').click();
    await expect(
      page.locator('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current')
    ).toHaveAttribute('title', /iris\.ipynb/);
    // The snapshot shows in the sidebar (the current notebook's snapshots); the run in the Experiments view.
    await openView(page, 'registry');
    await graph.getByTestId('nblift-lineage-snapshot').click();
    await expect(
      page
        .locator(`#${SIDEBAR}`)
        .getByRole('list', { name: 'snapshot list' })
        .locator('li[aria-current="true"]')
    ).toContainText('trained');
    await run.click();
    const tracked = viewTab(page, 'experiments').getByRole('region', {
      name: /^tracked run /
    });
    await expect(
      tracked.getByRole('table', { name: 'latest metrics' })
    ).toContainText('accuracy');

    await openView(page, 'registry');

    // The model card shows in a sandboxed frame; markup typed into a field stays text there.
    const card = version.getByTestId('nblift-model-card');
    await expect(card).toHaveAttribute('sandbox', '');
    await version
      .getByRole('textbox', { name: 'Intended use' })
      .fill(`Iris demo ${MARKUP}`);
    await version.getByRole('button', { name: 'Save card' }).click();
    await expect(card).toHaveAttribute('srcdoc', /Iris demo &lt;img src=x/);
    await expect(card).toHaveAttribute('sandbox', '');
    await expect(
      page.frameLocator('[data-testid="nblift-model-card"]').locator('body')
    ).toContainText(`Iris demo ${MARKUP}`);
    await expect(audit.getByTestId('nblift-audit-card')).toHaveCount(1);
    expect(
      await page.evaluate(
        () => (window as unknown as { nbliftXss?: number }).nbliftXss
      )
    ).toBeUndefined();
    await card.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: test.info().outputPath('card.png') });
  });
});
