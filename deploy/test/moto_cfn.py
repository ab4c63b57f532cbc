"""A moto server whose CloudFormation also creates the resource types moto emulates as
services but not in CloudFormation (moto 5.2.5), for deploy/test.sh.

    python3 moto_cfn.py -H 127.0.0.1 -p 5056      (the arguments of `python -m moto.server`)

moto's CloudFormation skips a type it does not know, with a warning, and a `!GetAtt` on
it fails the whole stack. For these types it creates the real resource through moto's own
API, on this same server, with the template's properties passed through unchanged (checked
against the API's input shapes, so a misspelt property fails the deployment):

    AWS::SecretsManager::Secret (GenerateSecretString too), AWS::SecretsManager::SecretTargetAttachment
    (adds host, port, engine of an RDS instance, as CloudFormation does), AWS::ElastiCache::SubnetGroup,
    AWS::ElastiCache::ReplicationGroup ({{resolve:secretsmanager:...}} in AuthToken resolved),
    AWS::CloudWatch::Alarm, AWS::AutoScaling::ScalingPolicy, AWS::S3::BucketPolicy, AWS::SNS::Subscription

moto has no API for AWS::ElastiCache::ParameterGroup and AWS::SSM::Association: those are
only recorded, so references to them resolve; the tests check them in the template.

Gaps of moto's own CloudFormation patched here, each where it is patched:
  - the default AMI's public parameter (Ubuntu's, under /aws/service/canonical/) is missing,
    and moto resolves a parameter's default even when it is overridden: it reads as one of
    moto's Ubuntu AMIs (UBUNTU_AMI), as moto already does for Amazon Linux's;
  - `!Ref` of an AWS::RDS::DBParameterGroup gave the model object instead of its name;
  - `!GetAtt` lacked LoadBalancerFullName, CanonicalHostedZoneID and TargetGroupFullName;
  - ExecuteChangeSet (what `aws cloudformation deploy` uses) left the stack without outputs;
  - an update looked up the AMI parameter's resolved value as a parameter name, and dropped
    the resources of types moto cannot update from the stack;
  - deleting a stack left NAT gateways, route tables, the gateway endpoint, the internet
    gateway attachment and released network interfaces behind, so the VPC never went.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections import defaultdict
from typing import Any

import boto3
from botocore.config import Config
from moto.core.common_models import CloudFormationModel
from moto.server import main as moto_main
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.ec2 import models as ec2_models
from moto.elbv2 import models as elbv2_models
from moto.rds import models as rds_models
from moto.ssm import models as ssm_models

RUN_AS_SCRIPT = __name__ == "__main__"
# moto files every model under the service named by the second part of its module's name.
__name__ = "skillreel.cloudformation"  # noqa: A001

UBUNTU_AMI = "ami-785db401"  # in moto's default images (ubuntu-xenial-16.04-amd64-server)
UBUNTU_PREFIX = "/aws/service/canonical/"

HOST_PORT = {"host": "127.0.0.1", "port": "5056"}
RESOLVE = re.compile(r"\{\{resolve:secretsmanager:([^}:]+(?::[^}:]+)*?)(?::SecretString(?::([^}:]*))?)?\}\}")


def client(service: str, region: str):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=f"http://{HOST_PORT['host']}:{HOST_PORT['port']}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def coerce(shape, value: Any) -> Any:
    """The template's value in the type the API wants (CloudFormation passes numbers and
    booleans as strings at times); unknown structure members are an error."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise ValueError(f"{shape.name}: expected an object, got {value!r}")
        unknown = set(value) - set(shape.members)
        if unknown:
            raise ValueError(f"{shape.name}: unknown properties {sorted(unknown)}")
        return {k: coerce(shape.members[k], v) for k, v in value.items()}
    if kind == "list":
        return [coerce(shape.member, v) for v in value]
    if kind == "map":
        return {k: coerce(shape.value, v) for k, v in value.items()}
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("double", "float"):
        return float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return value


def api_args(api, operation: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    shape = api.meta.service_model.operation_model(operation).input_shape
    return coerce(shape, {**properties, **extra})


def resolve_secrets(value: str, region: str) -> str:
    """{{resolve:secretsmanager:id[:SecretString[:key]]}}, as CloudFormation resolves it."""

    def one(match: re.Match) -> str:
        secret = client("secretsmanager", region).get_secret_value(SecretId=match.group(1))["SecretString"]
        return json.loads(secret)[match.group(2)] if match.group(2) else secret

    return RESOLVE.sub(one, value)


class Shim(CloudFormationModel):
    """One created resource: its physical id and the attributes `!GetAtt` may read.

    Each shim names CloudFormationModel as a direct base again: moto finds the types it
    supports among that class's direct subclasses."""

    TYPE = ""
    NAME = ""

    def __init__(self, physical_id: str, region: str, attributes: dict[str, Any] | None = None):
        self.physical_id = physical_id
        self.region = region
        self.attributes = attributes or {}

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.attributes:
            raise ValueError(f"{self.TYPE} has no attribute {attribute_name} in this shim")
        return self.attributes[attribute_name]

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        self.remove(region_name)

    def remove(self, region: str) -> None:
        """Deletes the real resource."""


class Secret(Shim, CloudFormationModel):
    TYPE = "AWS::SecretsManager::Secret"
    NAME = "Name"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = dict(cloudformation_json["Properties"])
        api = client("secretsmanager", region_name)
        generate = props.pop("GenerateSecretString", None)
        if generate is not None:
            generate = dict(generate)
            template = generate.pop("SecretStringTemplate", None)
            key = generate.pop("GenerateStringKey", None)
            password = api.get_random_password(**api_args(api, "GetRandomPassword", generate))["RandomPassword"]
            if template is not None:
                value = json.loads(template)
                value[key] = password
                password = json.dumps(value)
            props["SecretString"] = password
        props.pop("Name", None)
        arn = api.create_secret(**api_args(api, "CreateSecret", props, Name=resource_name))["ARN"]
        return cls(arn, region_name, {"Id": arn})

    def remove(self, region: str) -> None:
        # CloudFormation schedules the deletion (the default recovery window).
        client("secretsmanager", region).delete_secret(SecretId=self.physical_id)


class SecretTargetAttachment(Shim, CloudFormationModel):
    TYPE = "AWS::SecretsManager::SecretTargetAttachment"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        if props["TargetType"] != "AWS::RDS::DBInstance":
            raise ValueError(f"shim supports RDS instances only, not {props['TargetType']}")
        db = client("rds", region_name).describe_db_instances(DBInstanceIdentifier=props["TargetId"])["DBInstances"][0]
        secrets = client("secretsmanager", region_name)
        value = json.loads(secrets.get_secret_value(SecretId=props["SecretId"])["SecretString"])
        value.update(
            engine=db["Engine"],
            host=db["Endpoint"]["Address"],
            port=db["Endpoint"]["Port"],
            dbInstanceIdentifier=db["DBInstanceIdentifier"],
        )
        secrets.put_secret_value(SecretId=props["SecretId"], SecretString=json.dumps(value))
        return cls(props["SecretId"], region_name)


class CacheSubnetGroup(Shim, CloudFormationModel):
    TYPE = "AWS::ElastiCache::SubnetGroup"
    NAME = "CacheSubnetGroupName"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = dict(cloudformation_json["Properties"])
        description = props.pop("Description")
        props.pop(cls.NAME, None)
        name = resource_name.lower()
        api = client("elasticache", region_name)
        api.create_cache_subnet_group(
            **api_args(api, "CreateCacheSubnetGroup", props, CacheSubnetGroupName=name,
                       CacheSubnetGroupDescription=description)
        )
        return cls(name, region_name)


class ReplicationGroup(Shim, CloudFormationModel):
    TYPE = "AWS::ElastiCache::ReplicationGroup"
    NAME = "ReplicationGroupId"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = dict(cloudformation_json["Properties"])
        props.pop(cls.NAME, None)
        if "AuthToken" in props:
            props["AuthToken"] = resolve_secrets(props["AuthToken"], region_name)
        # CloudFormation lower-cases generated ids and keeps them within 40 characters.
        name = resource_name.lower()[:40]
        api = client("elasticache", region_name)
        group = api.create_replication_group(
            **api_args(api, "CreateReplicationGroup", props, ReplicationGroupId=name)
        )["ReplicationGroup"]
        primary = group["NodeGroups"][0]["PrimaryEndpoint"]
        return cls(name, region_name, {
            "PrimaryEndPoint.Address": primary["Address"],
            "PrimaryEndPoint.Port": str(primary["Port"]),
        })

    def remove(self, region: str) -> None:
        client("elasticache", region).delete_replication_group(ReplicationGroupId=self.physical_id)


class Alarm(Shim, CloudFormationModel):
    TYPE = "AWS::CloudWatch::Alarm"
    NAME = "AlarmName"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = dict(cloudformation_json["Properties"])
        props.pop(cls.NAME, None)
        api = client("cloudwatch", region_name)
        api.put_metric_alarm(**api_args(api, "PutMetricAlarm", props, AlarmName=resource_name))
        return cls(resource_name, region_name)

    def remove(self, region: str) -> None:
        client("cloudwatch", region).delete_alarms(AlarmNames=[self.physical_id])


class ScalingPolicy(Shim, CloudFormationModel):
    TYPE = "AWS::AutoScaling::ScalingPolicy"
    NAME = "PolicyName"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = dict(cloudformation_json["Properties"])
        props.pop(cls.NAME, None)
        api = client("autoscaling", region_name)
        api.put_scaling_policy(**api_args(api, "PutScalingPolicy", props, PolicyName=resource_name))
        # moto's PutScalingPolicy answer carries no PolicyARN.
        arn = api.describe_policies(PolicyNames=[resource_name])["ScalingPolicies"][0]["PolicyARN"]
        instance = cls(arn, region_name)
        instance.group, instance.name = props["AutoScalingGroupName"], resource_name
        return instance

    def remove(self, region: str) -> None:
        client("autoscaling", region).delete_policy(AutoScalingGroupName=self.group, PolicyName=self.name)


class BucketPolicy(Shim, CloudFormationModel):
    TYPE = "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        client("s3", region_name).put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
        instance = cls(props["Bucket"], region_name)
        return instance

    def remove(self, region: str) -> None:
        client("s3", region).delete_bucket_policy(Bucket=self.physical_id)


class Subscription(Shim, CloudFormationModel):
    TYPE = "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        api = client("sns", region_name)
        arn = api.subscribe(**api_args(api, "Subscribe", props, ReturnSubscriptionArn=True))["SubscriptionArn"]
        return cls(arn, region_name)

    def remove(self, region: str) -> None:
        client("sns", region).unsubscribe(SubscriptionArn=self.physical_id)


class RecordedOnly(Shim):
    """Types moto has no API for: the id resolves, nothing is created."""

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        return cls(f"{resource_name.lower()}-{uuid.uuid4().hex[:8]}", region_name)


class CacheParameterGroup(RecordedOnly, CloudFormationModel):
    TYPE = "AWS::ElastiCache::ParameterGroup"


class Association(RecordedOnly, CloudFormationModel):
    TYPE = "AWS::SSM::Association"


_check_loading_status = ssm_models.ParameterDict._check_loading_status


def _with_ubuntu_amis(self, key):
    _check_loading_status(self, key)
    key = str(key or "")
    if key.startswith(UBUNTU_PREFIX) and not dict.__contains__(self, key):
        # defaultdict's own item access: ParameterDict's would call this function again.
        defaultdict.__getitem__(self, key).append(ssm_models.Parameter(
            account_id=self.account_id, name=key, value=UBUNTU_AMI, parameter_type="String",
            description=None, allowed_pattern=None, keyid=None, last_modified_date=None,
            version=1, data_type="aws:ec2:image",
        ))


ssm_models.ParameterDict._check_loading_status = _with_ubuntu_amis

# moto's !Ref of an AWS::RDS::DBParameterGroup yields the model object instead of the
# group's name (the object has no physical_resource_id), which breaks the DB instance.
rds_models.DBParameterGroup.physical_resource_id = property(lambda self: self.name)


# moto's load balancer and target group lack the attributes CloudWatch dimensions use.
def _full_name(arn: str) -> str:
    """app/<name>/<id> or targetgroup/<name>/<id>, the tail of the ARN."""
    return arn.split(":", 5)[5].split("/", 1)[1]


_lb_attribute = elbv2_models.FakeLoadBalancer.get_cfn_attribute


def _lb_get_cfn_attribute(self, attribute_name):
    if attribute_name == "LoadBalancerFullName":
        return _full_name(self.arn)
    if attribute_name == "CanonicalHostedZoneID":
        return self.canonical_hosted_zone_id
    return _lb_attribute(self, attribute_name)


def _tg_get_cfn_attribute(self, attribute_name):
    if attribute_name == "TargetGroupFullName":
        return _full_name(self.arn)
    raise NotImplementedError(attribute_name)


elbv2_models.FakeLoadBalancer.get_cfn_attribute = _lb_get_cfn_attribute
elbv2_models.FakeTargetGroup.get_cfn_attribute = _tg_get_cfn_attribute

# moto's ExecuteChangeSet (what `aws cloudformation deploy` uses) updates the resources
# but not the outputs, so a stack made from a change set had none.
_apply_change_set = cfn_models.ChangeSet.apply


def _apply_with_outputs(self):
    _apply_change_set(self)
    self.stack.output_map = cfn_parsing.OutputMap(self.stack.resource_map, self.template_dict, self.stack.stack_id)


cfn_models.ChangeSet.apply = _apply_with_outputs


# moto's AWS::EC2::NatGateway cannot be deleted by CloudFormation, so the VPC never goes.
def _delete_nat_gateway(self, account_id, region_name):
    ec2_models.ec2_backends[account_id][region_name].delete_nat_gateway(self.id)


ec2_models.nat_gateways.NatGateway.delete = _delete_nat_gateway

# Nor route tables, gateway VPC endpoints, internet gateways and their attachments; and
# it keeps the network interfaces of deleted NAT gateways and of the instances the groups
# terminated. All of them keep the VPC "in use", so stack deletion failed. Each gets the
# delete AWS performs (moto retries deletions in passes, so the order sorts itself out).
def _backend(account_id, region_name):
    return ec2_models.ec2_backends[account_id][region_name]


def _detach_gateway(self, account_id, region_name):
    if self.gateway_id and self.gateway_id.startswith("igw-"):
        _backend(account_id, region_name).detach_internet_gateway(self.gateway_id, self.vpc_id)


def _delete_route_table(self, account_id, region_name):
    # moto's AWS::EC2::SubnetRouteTableAssociation is the route table object itself, so
    # this runs once per association too.
    backend = _backend(account_id, region_name)
    if self.id in backend.route_tables:
        backend.delete_route_table(self.id)


ec2_models.route_tables.RouteTable.delete = _delete_route_table
def _delete_endpoint(self, account_id, region_name):
    backend = _backend(account_id, region_name)
    # A route table deleted first has taken the endpoint's routes with it.
    self.route_table_ids = [t for t in self.route_table_ids if t in backend.route_tables]
    backend.delete_vpc_endpoints([self.id])


ec2_models.vpcs.VPCEndPoint.delete = _delete_endpoint
ec2_models.internet_gateways.InternetGateway.delete = lambda self, a, r: _backend(a, r).delete_internet_gateway(self.id)
ec2_models.vpn_gateway.VPCGatewayAttachment.delete = _detach_gateway
_delete_vpc = ec2_models.vpcs.VPC.delete_from_cloudformation_json.__func__


def _delete_vpc_after_leftovers(cls, resource_name, cloudformation_json, account_id, region_name):
    backend = _backend(account_id, region_name)
    for eni in list(backend.enis.values()):
        owner = eni.instance
        if eni.subnet.vpc_id == resource_name and (owner is None or owner.state == "terminated"):
            backend.enis.pop(eni.id, None)
    _delete_vpc(cls, resource_name, cloudformation_json, account_id, region_name)


ec2_models.vpcs.VPC.delete_from_cloudformation_json = classmethod(_delete_vpc_after_leftovers)

# On an update, moto hands UsePreviousValue the *resolved* value of an SSM-typed parameter
# (an AMI id) and then looks that up as a parameter name; AWS keeps the name.
_parse_ssm_parameter = cfn_parsing.ResourceMap.parse_ssm_parameter


def _parse_ssm_parameter_or_resolved(self, value, value_type):
    if not value.startswith("/") and value.startswith("ami-"):
        return value
    return _parse_ssm_parameter(self, value, value_type)


cfn_parsing.ResourceMap.parse_ssm_parameter = _parse_ssm_parameter_or_resolved

# An update of a type moto cannot update (RDS instances, the shims above...) used to drop
# the resource from the stack; it keeps its current state instead.
_parse_and_update_resource = cfn_parsing.parse_and_update_resource


def _update_or_keep(logical_id, resource_json, resources_map, account_id, region_name):
    updated = _parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name)
    return updated if updated is not None else resources_map[logical_id]


cfn_parsing.parse_and_update_resource = _update_or_keep

# moto swallows why a resource could not be deleted; say it in the server log.
_delete_resource = cfn_parsing.ResourceMap._delete_resource


def _delete_resource_logged(self, parsed_resource, resource_json):
    try:
        _delete_resource(self, parsed_resource, resource_json)
    except Exception as err:
        print(f"moto_cfn: deleting {resource_json.get('Type')} {getattr(parsed_resource, 'logical_resource_id', '?')}: "
              f"{err!r}", file=sys.stderr, flush=True)
        raise


cfn_parsing.ResourceMap._delete_resource = _delete_resource_logged


if RUN_AS_SCRIPT:
    args = sys.argv[1:]
    for flag, key in (("-H", "host"), ("-p", "port")):
        if flag in args:
            HOST_PORT[key] = args[args.index(flag) + 1]
    os.environ.setdefault("MOTO_PORT", HOST_PORT["port"])
    moto_main(args)
