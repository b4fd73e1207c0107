import test from 'ava';
import { stillEnrolled } from '../src/install/redirection-release.js';

const pod = (labels?: Record<string, string>) => ({ metadata: { name: 'p', namespace: 'default', labels } });

test('a pod stays enrolled by its own label or its namespace label, unless it opts out', (t) => {
  t.true(stillEnrolled(pod({ 'istio.io/dataplane-mode': 'ambient' }), {}));
  t.true(stillEnrolled(pod(), { 'istio.io/dataplane-mode': 'ambient' }));
  t.false(stillEnrolled(pod({ 'istio.io/dataplane-mode': 'none' }), { 'istio.io/dataplane-mode': 'ambient' }));
});

test('a pod whose labels are gone has left the mesh and must be released before ztunnel goes', (t) => {
  t.false(stillEnrolled(pod(), {}));
  t.false(stillEnrolled(pod({ app: 'x' }), undefined));
});
