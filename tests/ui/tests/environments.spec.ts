import { expect, test } from '@jupyterlab/galata';

const SIDEBAR = 'nblift-sidebar';
const PACKAGE = 'pyjokes';

test.describe('nblift environments view', () => {
  test('shows drift after a package is installed into the kernel, and Pin clears it', async ({
    page
  }) => {
    test.setTimeout(420000);
    await page.notebook.createNew('env.ipynb');
    await page.notebook.setCell(0, 'code', 'import sys');
    await page.notebook.run();
    await page.notebook.save();

    await page.sidebar.openTab(SIDEBAR);
    const panel = page.locator(`#${SIDEBAR}`);
    const drift = panel.getByLabel('drift between kernel and lock');
    const message = panel.getByTestId('nblift-env-message');
    const alert = panel.getByRole('alert');

    const pin = async (): Promise<void> => {
      await panel.getByRole('button', { name: 'Pin' }).click();
      // Whichever comes first: the pin's report, or its error (shown, so a failure says why).
      await expect(message.or(alert).first()).toBeVisible({ timeout: 180000 });
      await expect(alert).toHaveCount(0);
      await expect(message).toContainText('locked');
    };

    await pin();
    await expect(drift).toContainText('No drift', { timeout: 60000 });
    await expect(panel.getByTestId('nblift-env-lock')).toContainText(
      'packages for linux'
    );

    // Install a package into the kernel's environment: the lock no longer matches.
    await page.notebook.addCell(
      'code',
      'import subprocess\n' +
        `subprocess.run([sys.executable, "-m", "pip", "install", "-q", "${PACKAGE}"], check=True)`
    );
    await page.notebook.runCell(1);
    // No Check environment pressed: the view reads the kernel's environment again after the cell ran.
    await expect(drift).toContainText(`${PACKAGE}`, { timeout: 60000 });
    await expect(drift).toContainText('missing in lock');

    await pin();
    await expect(drift).toContainText('No drift', { timeout: 60000 });

    // Leave the environment as it was.
    const last = (await page.notebook.getCellCount()) - 1;
    await page.notebook.setCell(
      last,
      'code',
      `subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y", "${PACKAGE}"], check=True)`
    );
    await page.notebook.runCell(last);
  });
});
