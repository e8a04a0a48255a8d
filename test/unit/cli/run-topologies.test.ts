import { InvalidArgumentError } from 'commander';
import { topologyList, topologyOptions } from '../../../src/cli/commands/run';
import { ConfigError } from '../../../src/errors';

describe('vectors run with several topologies in one process', () => {
  it('takes one topology or several joined by commas, each known and named once', () => {
    expect(topologyList('user-vectors')).toEqual(['user-vectors']);
    expect(topologyList('user-vectors,candidates')).toEqual(['user-vectors', 'candidates']);
    expect(() => topologyList('user-vectors,candidate')).toThrow(InvalidArgumentError);
    expect(() => topologyList('user-vectors,candidate')).toThrow(/unknown topology 'candidate'; choose from .*candidates/);
    expect(() => topologyList('candidates,candidates')).toThrow(/named twice/);
  });

  it('gives each topology the unscoped options and its own scoped ones, which win', () => {
    const opt = { k: '100', 'topic.control': 'ctl', 'candidates:k': '50', 'user-vectors:name': 'uv-a', 'candidates:name': 'c-a' };
    const names = ['user-vectors', 'candidates'];
    expect(topologyOptions(opt, 'user-vectors', names)).toEqual({ k: '100', 'topic.control': 'ctl', name: 'uv-a' });
    expect(topologyOptions(opt, 'candidates', names)).toEqual({ k: '50', 'topic.control': 'ctl', name: 'c-a' });
    // One topology: options as before.
    expect(topologyOptions({ name: 'x', k: '3' }, 'candidates', ['candidates'])).toEqual({ name: 'x', k: '3' });
  });

  it('refuses one name for several topologies, and a scope this process does not run', () => {
    expect(() => topologyOptions({ name: 'x' }, 'user-vectors', ['user-vectors', 'candidates'])).toThrow(ConfigError);
    expect(() => topologyOptions({ name: 'x' }, 'user-vectors', ['user-vectors', 'candidates'])).toThrow(/scope it: --opt user-vectors:name=/);
    expect(() => topologyOptions({ 'candidate:k': '5' }, 'user-vectors', ['user-vectors', 'candidates'])).toThrow(
      /scoped to 'candidate', which this process does not run/,
    );
    // Model and index settings belong to the one catalog: scoped, they would be ignored.
    expect(() => topologyOptions({ 'user-vectors:model': 'fold-in' }, 'user-vectors', ['user-vectors', 'candidates'])).toThrow(
      /give it unscoped: --opt model=fold-in/,
    );
  });
});
