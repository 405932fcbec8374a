import type { RunSettings } from './settings.ts';

const SECRET_NAME = /secret|password|passwd|token|credential|private|api[-_]?key|access[-_]?key/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * Values of a run that may be secret, for the runner to mask in every log line: template
 * parameters and tags with secret-sounding names, and a password in an S3 endpoint URL.
 */
export function possibleSecrets(settings: RunSettings): string[] {
  const named = [...Object.entries(settings.parameters), ...Object.entries(settings.aws?.tags ?? {})]
    .filter(([name, value]) => isSecretName(name) && value !== '')
    .map(([, value]) => value);
  const endpointPassword = settings.s3.endpoint === undefined ? '' : decodeURIComponent(new URL(settings.s3.endpoint).password);
  return endpointPassword === '' ? named : [...named, endpointPassword];
}
