/**
 * deploy/k8s: every manifest validates against the Kubernetes schemas that
 * `kubernetes-validate` (PyPI) ships — strict, so a misspelt field fails;
 * nothing is fetched — and the pieces fit together: probes on the routes the
 * processes serve, the token from the Secret, the brokers from the ConfigMap,
 * selectors that select the pods. Skipped, saying so, where the validator is
 * not installed (`pip install kubernetes-validate`; .ci/run installs it).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIR = join(__dirname, '..', '..', '..', 'deploy', 'k8s');
const FILES = [
  ...readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(DIR, f)),
  join(DIR, 'examples', 'secret.yaml'),
];

const installed = spawnSync('kubernetes-validate', ['--version'], { encoding: 'utf8' }).status === 0;

function validate(files: string[]): { status: number | null; output: string } {
  const r = spawnSync('kubernetes-validate', ['--strict', '--quiet', ...files], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The manifests as objects (PyYAML comes with kubernetes-validate). */
function load(files: string[]): K8sObject[] {
  const r = spawnSync(
    'python3',
    ['-c', 'import json, sys, yaml; print(json.dumps([d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]))', ...files],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`could not parse the manifests: ${r.stderr}`);
  return JSON.parse(r.stdout) as K8sObject[];
}

interface Container {
  name: string;
  command: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet: { path: string; port: string } };
  livenessProbe?: { httpGet: { path: string; port: string } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string } }[];
}
interface K8sObject {
  kind: string;
  metadata: { name: string };
  spec: {
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    serviceName?: string;
    clusterIP?: string;
    volumeClaimTemplates?: { metadata: { name: string } }[];
    ports?: { port: number; targetPort: string }[];
  };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

if (!installed) {
  it.skip('kubernetes-validate is not installed (pip install kubernetes-validate): deploy/k8s was not validated', () => undefined);
} else {
  describe('deploy/k8s manifests', () => {
    it('every manifest validates (strict) against the shipped Kubernetes schemas', () => {
      const r = validate(FILES);
      expect(r.output).toBe('');
      expect(r.status).toBe(0);
    });

    it('the validator is strict: a misspelt field fails (so the check above can fail)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'k8s-'));
      try {
        const bad = join(dir, 'bad.yaml');
        writeFileSync(bad, 'apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  selectr: {app: x}\n  ports:\n    - port: 80\n');
        const r = validate([bad]);
        expect(r.status).not.toBe(0);
        expect(r.output).toContain("'selectr' was unexpected");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    describe('the pieces fit', () => {
      const objects = installed ? load(FILES) : [];
      const find = (kind: string, name: string) => {
        const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
        if (!o) throw new Error(`no ${kind} ${name} in deploy/k8s`);
        return o;
      };
      const podLabels = (o: K8sObject) => o.spec.template!.metadata.labels;
      const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

      it('user-vectors: a StatefulSet with a state volume, probes on /readyz and /healthz, the token from the Secret, the brokers from the ConfigMap', () => {
        const sts = find('StatefulSet', 'user-vectors');
        const pod = sts.spec.template!.spec;
        const c = pod.containers[0]!;
        expect(sts.spec.volumeClaimTemplates!.map((v) => v.metadata.name)).toContain('state');
        expect(c.volumeMounts).toEqual(expect.arrayContaining([{ name: 'state', mountPath: find('ConfigMap', 'vectors-config').data!.VECTORS_STATE_DIR }]));
        expect(c.readinessProbe!.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
        expect(c.livenessProbe!.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
        expect(c.ports).toEqual([{ name: 'http', containerPort: 8090 }]);
        expect(c.command).toEqual(expect.arrayContaining(['run', 'user-vectors', '--http', '0.0.0.0:8090']));
        expect(c.envFrom).toEqual([{ configMapRef: { name: 'vectors-config' } }]);
        expect(find('ConfigMap', 'vectors-config').data!.KAFKA_BROKERS).toBeTruthy();
        // The token file lies in the mounted Secret, which has the key.
        const tokenFile = c.env!.find((e) => e.name === 'VECTORS_API_TOKEN_FILE')!.value!;
        const mount = c.volumeMounts!.find((m) => tokenFile.startsWith(`${m.mountPath}/`))!;
        const secretName = pod.volumes!.find((v) => v.name === mount.name)!.secret!.secretName;
        expect(Object.keys(find('Secret', secretName).stringData!)).toContain(tokenFile.slice(mount.mountPath.length + 1));
        // Every advertised address resolves through the headless Service.
        const headless = find('Service', sts.spec.serviceName!);
        expect(headless.spec.clusterIP).toBe('None');
        expect(c.command.join(' ')).toContain(`.${headless.metadata.name}.`);
      });

      it.each([
        ['Service', 'user-vectors'],
        ['Service', 'user-vectors-headless'],
        ['PodDisruptionBudget', 'user-vectors'],
        ['Service', 'doorman-metrics'],
        ['Service', 'candidates-metrics'],
        ['PodDisruptionBudget', 'candidates'],
      ])('%s %s selects the pods it is for', (kind, name) => {
        const o = find(kind, name);
        const selector = kind === 'Service' ? (o.spec.selector as Record<string, string>) : o.spec.selector!.matchLabels!;
        const workloads = objects.filter((w) => ['StatefulSet', 'Deployment'].includes(w.kind) && selects(selector, podLabels(w)));
        expect(workloads.map((w) => w.metadata.name)).toEqual([name.replace(/-(metrics|headless)$/, '')]);
      });

      it.each([
        ['Deployment', 'doorman', 9101],
        ['Deployment', 'candidates', 9102],
      ])('%s %s serves /metrics and /healthz on its port, probed there', (kind, name, port) => {
        const c = find(kind, name).spec.template!.spec.containers[0]!;
        expect(c.command).toEqual(expect.arrayContaining(['run', name, '--metrics', `0.0.0.0:${port}`]));
        expect(c.ports).toEqual([{ name: 'metrics', containerPort: port }]);
        expect(c.livenessProbe!.httpGet).toMatchObject({ path: '/healthz', port: 'metrics' });
        expect(c.env!.map((e) => e.name)).toContain('VECTORS_API_TOKEN_FILE');
      });

      it('no secret value is written in a ConfigMap', () => {
        for (const o of objects.filter((x) => x.kind === 'ConfigMap'))
          for (const key of Object.keys(o.data ?? {})) expect(key).not.toMatch(/PASSWORD$|TOKEN$|SECRET/);
      });
    });
  });
}
