/**
 * The AWS partition a region belongs to: its ARN prefix, its DNS suffix and, where AWS publishes
 * one, its console. The same table as the AWS SDKs' partitions data (a test compares them).
 */
export interface AwsPartition {
  /** `aws`, `aws-cn`, `aws-us-gov`, ...: the second field of every ARN. */
  readonly name: string;
  readonly dnsSuffix: string;
  /** The console's address for the region; undefined where it is not public. */
  readonly console?: string;
}

const PARTITIONS: readonly { readonly regions: RegExp; readonly name: string; readonly dnsSuffix: string; readonly console?: (region: string) => string }[] = [
  { regions: /^cn-/, name: 'aws-cn', dnsSuffix: 'amazonaws.com.cn', console: () => 'https://console.amazonaws.cn' },
  { regions: /^us-gov-/, name: 'aws-us-gov', dnsSuffix: 'amazonaws.com', console: () => 'https://console.amazonaws-us-gov.com' },
  { regions: /^us-iso-/, name: 'aws-iso', dnsSuffix: 'c2s.ic.gov' },
  { regions: /^us-isob-/, name: 'aws-iso-b', dnsSuffix: 'sc2s.sgov.gov' },
  { regions: /^eu-isoe-/, name: 'aws-iso-e', dnsSuffix: 'cloud.adc-e.uk' },
  { regions: /^us-isof-/, name: 'aws-iso-f', dnsSuffix: 'csp.hci.ic.gov' },
  { regions: /^eusc-/, name: 'aws-eusc', dnsSuffix: 'amazonaws.eu' },
];

export function partitionOf(region: string): AwsPartition {
  const found = PARTITIONS.find((partition) => partition.regions.test(region));
  if (found === undefined) return { name: 'aws', dnsSuffix: 'amazonaws.com', console: `https://${region}.console.aws.amazon.com` };
  return { name: found.name, dnsSuffix: found.dnsSuffix, ...(found.console === undefined ? {} : { console: found.console(region) }) };
}

/** The virtual-hosted HTTPS URL of an S3 object, as CloudFormation's TemplateURL takes it. */
export function s3ObjectUrl(region: string, bucket: string, key: string): string {
  return `https://${bucket}.s3.${region}.${partitionOf(region).dnsSuffix}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
