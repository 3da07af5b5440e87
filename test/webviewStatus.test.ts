// The panel header's step count during a run: the host sends steps without a status per step,
// so the panel's model carries the count on (a followed run of watch() read "step 0" throughout).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunModel } from '../webview/runModel';

const step = (index: number) => ({ step: index, loss: 2.3, layers: [] });

test('steps arriving while running move the status step on; a finished run keeps its own count', () => {
  const model = new RunModel();
  model.setStatus({ phase: 'running', step: 0, message: 'backend torch (watch)' });
  model.appendSteps([step(0), step(1), step(2)]);
  assert.equal(model.status.step, 3);
  assert.equal(model.status.message, 'backend torch (watch)', 'the rest of the status stays');
  // A batch that overlaps one already folded in (a racing snapshot) does not move it back.
  model.appendSteps([step(1), step(2)]);
  assert.equal(model.status.step, 3);
  model.setStatus({ phase: 'done', step: 160 });
  model.appendSteps([step(3)]);
  assert.equal(model.status.step, 160, 'steps after the end do not rewrite a done status');
});
