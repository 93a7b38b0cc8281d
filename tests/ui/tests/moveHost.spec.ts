import { expect, test } from '@jupyterlab/galata';

import { cellText, openNewNotebook, runLast } from './notebook';
import { SIDEBAR } from './views';

/**
 * A whole move through the toolbar: state built at home, Move to… the loopback SSH host (`ssh:box`, started
 * with the server: tests/ui/move_host.py), a cell run there, the status saying where it runs, Move back, and
 * a cell run at home again that sees the values built at home and the ones made on the host.
 */
test.describe('nblift move to a host and back', () => {
  test('the same tab goes on on the host with the values, and comes home with them', async ({
    page
  }) => {
    test.setTimeout(420000);
    await openNewNotebook(page, 'move-project/session.ipynb');
    await runLast(
      page,
      '%load_ext nblift\ncounter = 41\narr = [float(i) for i in range(10)]'
    );
    await page.notebook.save();

    await page.getByRole('button', { name: 'Move to…' }).click();
    const choose = page.locator('.jp-Dialog');
    await expect(choose.getByLabel('SSH target').locator('option')).toHaveText([
      'ssh:box'
    ]);
    await choose.getByRole('button', { name: 'Plan' }).click();
    const plan = page
      .locator('.jp-Dialog')
      .filter({ hasText: 'Move to ssh:box?' });
    await expect(plan).toContainText('the host lacks', { timeout: 180000 });
    await plan.getByRole('button', { name: 'Move' }).click();
    const moved = page
      .locator('.jp-Dialog')
      .filter({ hasText: 'Moved to ssh:box' });
    await expect(moved).toContainText('moved to box:', {
      timeout: 240000
    });
    await moved.getByRole('button', { name: 'Ok' }).click();

    // the dialog switched the tab's session to the kernel on the host (the one the move's JSON names): the
    // toolbar offers the way back
    await expect(page.getByRole('button', { name: 'Move back' })).toBeVisible({
      timeout: 60000
    });
    const there = await runLast(
      page,
      "import os\ncounter += 1\nmade_on_host = os.environ.get('SSH_CONNECTION', '').split()[-1:]\n" +
        'doubled = [2 * x for x in arr]\n' +
        'print(bool(made_on_host), counter, sum(arr), sum(doubled))'
    );
    expect(await cellText(page, there)).toContain('True 42 45.0 90.0');
    await expect(page.locator('.jp-KernelName')).toContainText(
      'Python on box',
      { timeout: 60000 }
    );
    // the sidebar's status says where the notebook's kernel runs now
    await page.sidebar.openTab(SIDEBAR);
    await expect(
      page.locator(`#${SIDEBAR}`).getByTestId('nblift-kernel')
    ).toContainText('box (moved there', { timeout: 60000 });

    await page.getByRole('button', { name: 'Move back' }).click();
    const back = page.locator('.jp-Dialog').filter({ hasText: 'Moving back' });
    await expect(back).toContainText('moving home', { timeout: 120000 });
    await back.getByRole('button', { name: 'Ok' }).click();

    // the provisioner at home brings the snapshot back into a kernel there and the dialog switches the tab's
    // session to it: the tab's kernel is a home one again, the toolbar offers Move to… again and the status
    // says the kernel runs here
    await expect(page.locator('.jp-KernelName')).toHaveText(
      'Python 3 (ipykernel)',
      { timeout: 120000 }
    );
    await expect(page.getByRole('button', { name: 'Move to…' })).toBeVisible({
      timeout: 60000
    });
    await expect(
      page.locator(`#${SIDEBAR}`).getByTestId('nblift-kernel')
    ).toContainText('this machine', { timeout: 60000 });
    const home = await runLast(
      page,
      "import os\nprint(bool(os.environ.get('SSH_CONNECTION')), counter, sum(arr), sum(doubled), made_on_host)"
    );
    // built at home (arr), changed on the host (counter), made on the host (doubled, made_on_host: the
    // host's sshd port, from its SSH_CONNECTION)
    expect(await cellText(page, home)).toMatch(
      /False 42 45\.0 90\.0 \['\d+'\]/
    );
  });
});
