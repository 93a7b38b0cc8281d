import { expect, test } from '@jupyterlab/galata';

const SIDEBAR = 'nblift-sidebar';

test.use({ autoGoto: false });

test.describe('nblift sidebar', () => {
  test('shows the status the server returned', async ({ page, baseURL }) => {
    await page.goto(`${baseURL}/lab?reset`);
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });

    const response = await page.request.get(`${baseURL}/nblift/api/status`);
    expect(response.ok()).toBeTruthy();
    const status = await response.json();
    expect(status.store.objects).toBeGreaterThanOrEqual(2);

    await page.sidebar.openTab(SIDEBAR);
    const panel = page.locator(`#${SIDEBAR}`);
    await expect(panel.getByRole('heading', { name: /nblift/ })).toContainText(
      status.version
    );
    await expect(panel.getByTestId('nblift-project')).toHaveText(
      status.project.root
    );
    await expect(panel.getByTestId('nblift-tracking')).toContainText(
      status.tracking.uri
    );
    await expect(panel.getByTestId('nblift-store')).toHaveText(
      new RegExp(`^${status.store.objects} objects, `)
    );
    await expect(panel.getByTestId('nblift-fsck')).toHaveText(
      status.fsck === null ? 'never checked' : /^ok: /
    );
  });

  test('verifies the store on request', async ({ page, baseURL }) => {
    await page.goto(`${baseURL}/lab?reset`);
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    await page.sidebar.openTab(SIDEBAR);
    const panel = page.locator(`#${SIDEBAR}`);
    const before = await (
      await page.request.get(`${baseURL}/nblift/api/status`)
    ).json();
    await panel.getByRole('button', { name: 'Verify store' }).click();
    await expect(panel.getByTestId('nblift-fsck')).toHaveText(
      new RegExp(`^ok: ${before.store.objects} objects verified`)
    );

    const response = await page.request.get(`${baseURL}/nblift/api/status`);
    const status = await response.json();
    expect(status.fsck.ok).toBe(true);
    expect(status.fsck.checked).toBe(before.store.objects);
  });

  test('says plainly when the server extension is missing', async ({
    page,
    baseURL
  }) => {
    await page.route('**/nblift/api/**', route =>
      route.fulfill({ status: 404, body: '' })
    );
    await page.goto(`${baseURL}/lab?reset`);
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    await page.sidebar.openTab(SIDEBAR);
    await expect(page.locator(`#${SIDEBAR}`).getByRole('alert')).toContainText(
      'server extension is not installed or not enabled'
    );
  });

  test('says plainly when the versions differ', async ({ page, baseURL }) => {
    await page.route(/\/nblift\/api\/version(\?.*)?$/, route =>
      route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({ version: '0.0.1', api: 1 })
      })
    );
    await page.goto(`${baseURL}/lab?reset`);
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached' });
    await page.sidebar.openTab(SIDEBAR);
    await expect(page.locator(`#${SIDEBAR}`).getByRole('alert')).toContainText(
      'nblift versions differ: the server extension is 0.0.1'
    );
  });
});
