'use strict';

// `osls package` compiles each layer and then asks CloudFormation (DescribeStacks) whether the
// deployed stack already holds an identical one, to reuse its S3 key. That question needs AWS
// credentials and the network, which a packaging check on CI has neither of. For the `package`
// command alone this plugin skips the question; the template then describes a fresh upload of
// the layer, which is what deploying that package does. `deploy` is left untouched.
class OfflineLayerPackaging {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:package:compileLayers': () => this.skipDeployedLayerLookup() };
  }

  skipDeployedLayerLookup() {
    if (this.serverless.processedInput.commands.join(' ') !== 'package') return;
    const compiler = this.serverless.pluginManager.plugins.find(
      (plugin) => typeof plugin.compareWithLastLayer === 'function'
    );
    if (!compiler) {
      throw new Error(
        'osls no longer has compareWithLastLayer: review deploy/serverless/offline-layer-packaging.js'
      );
    }
    compiler.compareWithLastLayer = async () => {};
  }
}

module.exports = OfflineLayerPackaging;
