import { expect, test } from '@jupyterlab/galata';

import { openNewNotebook, runLast } from './notebook';

test.describe('nblift move', () => {
  test('Move to… says how to add a host when none is configured', async ({
    page,
    tmpPath
  }) => {
    await openNewNotebook(page, `${tmpPath}/alone.ipynb`);
    await page.getByRole('button', { name: 'Move to…' }).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('No SSH host to move to');
    await expect(dialog).toContainText('[tool.nblift.ssh_hosts.NAME]');
    await dialog.getByRole('button', { name: 'Ok' }).click();
  });

  test('Move to… lists the configured hosts and shows what the kernel says when one cannot be reached', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(120000);
    await page.contents.uploadContent(
      '[tool.nblift.ssh_hosts.box]\nhost = "127.0.0.1"\nport = 9\n',
      'text',
      `${tmpPath}/pyproject.toml`
    );
    await page.contents.uploadContent(
      'lock-version = "1.0"\ncreated-by = "uv"\n',
      'text',
      `${tmpPath}/pylock.toml`
    );
    await openNewNotebook(page, `${tmpPath}/moving.ipynb`);
    // its own project folder (the UI tests' root holds nblift state of its own)
    await runLast(page, "import os\nos.makedirs('.nblift', exist_ok=True)");
    await page.getByRole('button', { name: 'Move to…' }).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog.getByLabel('SSH target').locator('option')).toHaveText([
      'ssh:box'
    ]);
    await dialog.getByRole('button', { name: 'Plan' }).click();
    // the kernel runs `%lift move ssh:box --plan`; its error comes back as it said it
    const error = page.locator('.jp-Dialog').filter({
      hasText: 'Cannot move the session'
    });
    await expect(error).toContainText("cannot reach ssh target 'box'", {
      timeout: 90000
    });
  });
});
