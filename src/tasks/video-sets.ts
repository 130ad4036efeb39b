import { RunConfig } from '../config/schema';
import { videoOf } from './video-settings';
import { loadKth } from '../datasets/kth';
import { MNIST_DIGIT_SIZE, movingMnist, VideoSet } from '../datasets/moving-mnist';
import { Task } from '../core/task';
import { videoTask } from './video';
import { VideoData, VideoTaskDefinition } from './video-stage1';

function frames(config: RunConfig): number {
  return videoOf(config).contextFrames + videoOf(config).predictFrames;
}

/** Moving MNIST from the `mnist` package's digits: train and test sequences use disjoint digits and fixed seeds. */
function movingMnistData(config: RunConfig): Promise<VideoData> {
  const { size, digits, digitSize, trainSequences, testSequences } = videoOf(config);
  const common = { frames: frames(config), size, digits, digitSize };
  return Promise.resolve({
    train: movingMnist({ ...common, split: 'train', count: trainSequences, seed: 'moving-mnist/train' }),
    test: movingMnist({ ...common, split: 'test', count: testSequences, seed: 'moving-mnist/test' }),
  });
}

function movingMnistProblems(config: RunConfig): string[] {
  const { size, digitSize } = videoOf(config);
  if (MNIST_DIGIT_SIZE % digitSize !== 0) return [`video.digitSize: ${digitSize} must divide ${MNIST_DIGIT_SIZE} (28, 14, 7, 4, 2 or 1)`];
  if (digitSize >= size) return [`video.digitSize: ${digitSize} must be below the frame size ${size}`];
  return [];
}

/** The first `count` videos of a set. */
function firstVideos(videos: VideoSet, count: number): VideoSet {
  const n = Math.min(count, videos.count);
  return { ...videos, count: n, data: videos.data.slice(0, n * videos.frames * videos.size * videos.size) };
}

async function kthData(config: RunConfig): Promise<VideoData> {
  const { trainPath, testPath, size, trainSequences, testSequences } = videoOf(config);
  const options = { frames: frames(config), size };
  return {
    train: firstVideos(await loadKth(trainPath!, options), trainSequences),
    test: firstVideos(await loadKth(testPath!, options), testSequences),
  };
}

function kthProblems(config: RunConfig): string[] {
  const missing = (['trainPath', 'testPath'] as const).filter((key) => !videoOf(config)[key]);
  return missing.map((key) => `video.${key}: kth needs its data (RIVER's HDF5 shards or folders of frame PNGs; see the README)`);
}

export const movingMnistDefinition: VideoTaskDefinition = {
  name: 'moving-mnist',
  description: 'video prediction by latent flow matching (RIVER-style) on Moving MNIST built from the mnist package; PSNR/SSIM per frame',
  load: movingMnistData,
  checkConfig: movingMnistProblems,
};

export const movingMnistTask: Task = videoTask(movingMnistDefinition);

export const kthTask: Task = videoTask({
  name: 'kth',
  description: "video prediction on KTH (the paper's set) from the user's copy: set video.trainPath and video.testPath",
  load: kthData,
  checkConfig: kthProblems,
});
